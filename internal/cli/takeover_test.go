package cli_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestAgentCannotTakeOverAPersonsRecord: found by a fresh-user trial. One agent entered a
// rectification request from their own address, bound it to a restricted person's contact by
// staff verification, changed the contact's address to their own through the request, and then
// received the person's access bundle through the portal; the person was told nothing. Now
// binding a request to a contact with another address needs a role with contacts.restrict,
// correcting a restricted contact needs it too, and the replaced address is told of the change.
func TestAgentCannotTakeOverAPersonsRecord(t *testing.T) {
	sink := startSMTP(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"})
	_, agentOut, _ := runCLI(t, "token", "create", "--data", p.dir, "--role", "agent", "--name", "agent")
	_, dpoOut, _ := runCLI(t, "token", "create", "--data", p.dir, "--role", "dpo", "--name", "dpo")
	agent, dpo := strings.TrimSpace(agentOut), strings.TrimSpace(dpoOut)

	var c struct{ ID string }
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "astrid.lind@example.org", "first_name": "Astrid"}, &c)
	if st := p.do("PUT", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restrict: %d", st)
	}
	var r requestJSON
	if st := p.doAs(agent, "POST", "/api/v1/requests", map[string]any{"type": "rectification", "channel": "phone", "email": "mallory@attacker.example"}, &r); st != 201 {
		t.Fatalf("request: %d", st)
	}
	var prob problemJSON
	if st := p.doAs(agent, "POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "trust me"}, &prob); st != 409 || prob.Reason != "address_mismatch" || prob.Field != "contact_id" {
		t.Fatalf("agent binding another address: %d %+v; want 409 address_mismatch", st, prob)
	}
	if st := p.doAs(agent, "POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "trust me", "confirm_other_address": true}, &prob); st != 403 || prob.Field != "confirm_other_address" {
		t.Fatalf("agent confirming another address: %d %+v; want 403", st, prob)
	}
	if st := p.doAs(dpo, "POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "passport seen at the counter", "confirm_other_address": true}, nil); st != 200 {
		t.Fatalf("dpo confirming another address: %d", st)
	}
	changes := map[string]any{"changes": map[string]any{"email": "astrid.new@example.org"}}
	if st := p.doAs(agent, "POST", "/api/v1/requests/"+r.ID+"/complete", changes, &prob); st != 403 || prob.Reason != "role_forbidden" {
		t.Fatalf("agent correcting a restricted contact: %d %+v; want 403", st, prob)
	}
	if st := p.doAs(dpo, "POST", "/api/v1/requests/"+r.ID+"/complete", changes, nil); st != 200 {
		t.Fatalf("dpo completing: %d", st)
	}
	got := map[string]string{}
	for range 2 {
		d := sink.next(t)
		msg, text := parseMessage(t, d)
		got[d.To[0]] = msg.Header.Get("Subject") + "\n" + text
	}
	if old := got["astrid.lind@example.org"]; !strings.Contains(old, "e-mail address on your record was changed") || strings.Contains(old, "astrid.new@") {
		t.Errorf("notice to the replaced address: %q; want the change told, without the new address", old)
	}
	if done := got["mallory@attacker.example"]; !strings.Contains(done, "We corrected these fields: email") {
		t.Errorf("notice to the requester: %q", done)
	}
}

// TestStaffAddressChangeIsToldToTheOldAddress: found by a second trial. An agent could change a
// contact's address to their own by PATCH and then take the access bundle through the portal;
// the person heard nothing. The replaced address is told now.
func TestStaffAddressChangeIsToldToTheOldAddress(t *testing.T) {
	sink := startSMTP(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example", "TILLIT_DPO_EMAIL": "dpo@tillit.example"})
	var c struct{ ID string }
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "yvonne.x@example.org", "first_name": "Yvonne"}, &c)
	if st := p.do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"first_name": "Yvonne B."}, nil); st != 200 {
		t.Fatalf("patch name: %d", st)
	}
	if st := p.do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"email": "drop@evil.example"}, nil); st != 200 {
		t.Fatalf("patch address: %d", st)
	}
	d := sink.next(t)
	msg, text := parseMessage(t, d)
	if d.To[0] != "yvonne.x@example.org" || msg.Header.Get("Subject") != "The e-mail address on your record was changed" || strings.Contains(text, "drop@evil") || !strings.Contains(text, "dpo@tillit.example") {
		t.Errorf("notice to %v: %s\n%s; want the old address told, without the new one, with whom to write to", d.To, msg.Header.Get("Subject"), text)
	}
}

// TestNewAddressConfirmsDoubleOptIn: found by a whole-product trial. Consent confirmed by double
// opt-in at one address carried over when staff (or a rectification) changed the address, so
// campaigns and processors got an address nobody confirmed. The consent goes back to requested
// and the new address gets a confirmation link; using it restores the consent.
func TestNewAddressConfirmsDoubleOptIn(t *testing.T) {
	sink := startSMTP(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"})
	var c struct{ ID string }
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "astrid.d@example.org"}, &c)
	p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	gate := func() string {
		var d struct{ Reason string }
		p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
		return d.Reason
	}
	if r := gate(); r != "consent_given" {
		t.Fatalf("gate before: %s", r)
	}
	if st := p.do("PATCH", "/api/v1/contacts/"+c.ID, map[string]any{"email": "someone.else@example.net"}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	if r := gate(); r == "consent_given" {
		t.Errorf("gate after the address changed: %s; want no consent until the new address confirms", r)
	}
	var confirm string
	for range 2 {
		d := sink.next(t)
		_, text := parseMessage(t, d)
		if d.To[0] == "someone.else@example.net" {
			confirm = linkRE.FindString(text)
		}
	}
	if confirm == "" {
		t.Fatal("no confirmation link reached the new address")
	}
	u, _ := url.Parse(confirm)
	if st, _ := postForm(t, p.base, u.Path, nil); st != 200 {
		t.Fatalf("confirm: %d", st)
	}
	if r := gate(); r != "consent_given" {
		t.Errorf("gate after the new address confirmed: %s; want consent_given", r)
	}
}
