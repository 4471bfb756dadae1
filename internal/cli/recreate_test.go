package cli_test

import (
	"strings"
	"testing"
)

// TestRecreatingAnErasedAddress: staff could create a contact again for an address erased at the
// person's request without any warning. It is now 409 (reason erased) unless recreate_erased=true,
// and even then the address stays suppressed for mail until the person's own double opt-in.
func TestRecreatingAnErasedAddress(t *testing.T) {
	p := startProgram(t, t.TempDir())
	const addr = "Gone.Person@Example.ORG"
	var c contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Gone"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil); st != 200 && st != 204 {
		t.Fatalf("erase: %d", st)
	}
	var prob problemJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "gone.person@example.org"}, &prob); st != 409 || prob.Reason != "erased" || prob.Field != "email" {
		t.Fatalf("create again: %d %+v; want 409 erased on email", st, prob)
	}
	if strings.Contains(strings.ToLower(prob.Detail), "gone.person") {
		t.Errorf("problem detail names the address: %q", prob.Detail)
	}
	if st := p.do("POST", "/api/v1/contacts?recreate_erased=yes", map[string]any{"email": addr}, &prob); st != 400 || prob.Field != "recreate_erased" {
		t.Errorf("recreate_erased=yes: %d %+v; want 400 naming recreate_erased", st, prob)
	}
	// Another address is not affected.
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "other@example.org"}, nil); st != 201 {
		t.Errorf("other address: %d; want 201", st)
	}
	var again contactJSON
	if st := p.do("POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": addr}, &again); st != 201 || again.ID == "" || again.ID == c.ID {
		t.Fatalf("recreate_erased=true: %d %+v; want 201 with a new id", st, again)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if st := p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": again.ID, "purpose": "newsletter"}, &d); st != 200 || d.Allowed || d.Reason != "suppressed" {
		t.Errorf("gate for the recreated contact: %d %+v; want refused, suppressed", st, d)
	}
}
