package app_test

import (
	"net/url"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestNewAddressConfirmsDoubleOptIn: found by a whole-product trial. Consent confirmed by double
// opt-in at one address carried over when staff (or a rectification) changed the address, so
// campaigns and processors got an address nobody confirmed. The consent goes back to requested
// and the new address gets a confirmation link; using it restores the consent.
func TestNewAddressConfirmsDoubleOptIn(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	var c struct{ ID string }
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "astrid.d@example.org"}, &c)
	p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	gate := func() string {
		var d struct{ Reason string }
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
		return d.Reason
	}
	if r := gate(); r != "consent_given" {
		t.Fatalf("gate before: %s", r)
	}
	if st := p.Do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"email": "someone.else@example.net"}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	if r := gate(); r == "consent_given" {
		t.Errorf("gate after the address changed: %s; want no consent until the new address confirms", r)
	}
	var confirm string
	for range 2 {
		d := sink.Next(t)
		_, text := apptest.ParseMessage(t, d)
		if d.To[0] == "someone.else@example.net" {
			confirm = apptest.ConfirmLink.FindString(text)
		}
	}
	if confirm == "" {
		t.Fatal("no confirmation link reached the new address")
	}
	u, _ := url.Parse(confirm)
	if st, _ := apptest.PostForm(t, p.Base, u.Path, nil); st != 200 {
		t.Fatalf("confirm: %d", st)
	}
	if r := gate(); r != "consent_given" {
		t.Errorf("gate after the new address confirmed: %s; want consent_given", r)
	}
}
