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
	// Found by a second trial: an agent alone could bring an erased person back.
	_, agentOut, _ := runCLI(t, "token", "create", "--data", p.dir, "--role", "agent", "--name", "agent")
	if st := p.doAs(strings.TrimSpace(agentOut), "POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": addr}, &prob); st != 403 || prob.Field != "recreate_erased" {
		t.Errorf("agent with recreate_erased=true: %d %+v; want 403", st, prob)
	}
	var again contactJSON
	if st := p.do("POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": addr}, &again); st != 201 || again.ID == "" || again.ID == c.ID {
		t.Fatalf("recreate_erased=true: %d %+v; want 201 with a new id", st, again)
	}
	// The address has a contact again: a second create is the usual duplicate, naming it.
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": addr}, &prob); st != 409 || prob.Reason != "duplicate_email" || prob.ID != again.ID {
		t.Errorf("create while the recreated contact holds the address: %d %+v; want duplicate_email naming %s", st, prob, again.ID)
	}
	// Found by a second trial: PATCH put an erased address back on another contact unchecked.
	var other, gone2 contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "someone.else@example.org"}, &other)
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "gone.two@example.org"}, &gone2)
	p.do("DELETE", "/api/v1/contacts/"+gone2.ID, nil, nil)
	if st := p.do("PATCH", "/api/v1/contacts/"+other.ID, map[string]any{"email": "Gone.Two@example.org", "first_name": "Back"}, &prob); st != 409 || prob.Reason != "erased" {
		t.Errorf("PATCH to an erased address: %d %+v; want 409 erased", st, prob)
	}
	if st := p.do("PATCH", "/api/v1/contacts/"+other.ID, map[string]any{"first_name": "Still"}, nil); st != 200 {
		t.Errorf("PATCH of another field: %d; want 200", st)
	}
	if st := p.do("PATCH", "/api/v1/contacts/"+other.ID+"?recreate_erased=true", map[string]any{"email": "gone.two@example.org"}, nil); st != 200 {
		t.Errorf("PATCH to an erased address with recreate_erased=true: %d; want 200", st)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if st := p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": again.ID, "purpose": "newsletter"}, &d); st != 200 || d.Allowed || d.Reason != "suppressed" {
		t.Errorf("gate for the recreated contact: %d %+v; want refused, suppressed", st, d)
	}
}
