package dsr_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestAgentCannotTakeOverAPersonsRecord: found by a fresh-user trial. One agent entered a
// rectification request from their own address, bound it to a restricted person's contact by
// staff verification, changed the contact's address to their own through the request, and then
// received the person's access bundle through the portal; the person was told nothing. Now
// binding a request to a contact with another address needs a role with contacts.restrict,
// correcting a restricted contact needs it too, and the replaced address is told of the change.
func TestAgentCannotTakeOverAPersonsRecord(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	agentOut := p.Mint("agent", "agent", "")
	dpoOut := p.Mint("dpo", "dpo", "")
	agent, dpo := strings.TrimSpace(agentOut), strings.TrimSpace(dpoOut)

	var c struct{ ID string }
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "astrid.lind@example.org", "first_name": "Astrid"}, &c)
	if st := p.Do("PUT", "/api/v1/contacts/"+c.ID+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restrict: %d", st)
	}
	var r apptest.Request
	if st := p.DoAs(agent, "POST", "/api/v1/requests", map[string]any{"type": "rectification", "channel": "phone", "email": "mallory@attacker.example"}, &r); st != 201 {
		t.Fatalf("request: %d", st)
	}
	var prob apptest.Problem
	if st := p.DoAs(agent, "POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "trust me"}, &prob); st != 409 || prob.Reason != "address_mismatch" || prob.Field != "contact_id" {
		t.Fatalf("agent binding another address: %d %+v; want 409 address_mismatch", st, prob)
	}
	if st := p.DoAs(agent, "POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "trust me", "confirm_other_address": true}, &prob); st != 403 || prob.Field != "confirm_other_address" {
		t.Fatalf("agent confirming another address: %d %+v; want 403", st, prob)
	}
	if st := p.DoAs(dpo, "POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "passport seen at the counter", "confirm_other_address": true}, nil); st != 200 {
		t.Fatalf("dpo confirming another address: %d", st)
	}
	changes := map[string]any{"changes": map[string]any{"email": "astrid.new@example.org"}}
	if st := p.DoAs(agent, "POST", "/api/v1/requests/"+r.ID+"/complete", changes, &prob); st != 403 || prob.Reason != "role_forbidden" {
		t.Fatalf("agent correcting a restricted contact: %d %+v; want 403", st, prob)
	}
	if st := p.DoAs(dpo, "POST", "/api/v1/requests/"+r.ID+"/complete", changes, nil); st != 200 {
		t.Fatalf("dpo completing: %d", st)
	}
	got := map[string]string{}
	for range 2 {
		d := sink.Next(t)
		msg, text := apptest.ParseMessage(t, d)
		got[d.To[0]] = msg.Header.Get("Subject") + "\n" + text
	}
	if old := got["astrid.lind@example.org"]; !strings.Contains(old, "e-mail address on your record was changed") || strings.Contains(old, "astrid.new@") {
		t.Errorf("notice to the replaced address: %q; want the change told, without the new address", old)
	}
	if done := got["mallory@attacker.example"]; !strings.Contains(done, "We corrected these fields: email") {
		t.Errorf("notice to the requester: %q", done)
	}
}
