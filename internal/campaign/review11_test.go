package campaign_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestAgentRequestedOverRefusalIsNotAsked (review of issue 11, item 4): a consent-request
// campaign must never ask a person who refused or withdrew, and people with no history only
// with include_no_history, which an agent may not set. But an agent may record
// dpv:ConsentRequested through the API (RecordIn refuses only dpv:ConsentGiven over a refusal),
// and AskOf takes a current dpv:ConsentRequested for "requested and not answered": the agent's
// own default campaign then mailed the person who refused, the one who withdrew, and the one
// never asked. Now RecordIn applies the campaign's rule to a request staff record
// (consent.checkStaffRequest); the admin (p.Do) may still record one for a person never asked.
func TestAgentRequestedOverRefusalIsNotAsked(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none&sessions=1"}))
	agent := strings.TrimSpace(p.Mint("agent", "agent", ""))
	person := func(email string, states ...string) string {
		t.Helper()
		var c apptest.Contact
		if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": email}, &c); st != 201 {
			t.Fatalf("create %s: %d", email, st)
		}
		for _, s := range states {
			if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": s, "method": "web-form"}, nil); st != 201 {
				t.Fatalf("%s for %s: %d", s, email, st)
			}
		}
		return c.ID
	}
	ids := []string{
		person("refused@example.org", "dpv:ConsentRefused"),
		person("withdrew@example.org", "dpv:ConsentGiven", "dpv:ConsentWithdrawn"),
		person("never@example.org"),
	}
	for i, want := range []int{409, 409, 403} {
		// The agent "asks" them by hand, through the API: refused over a "no" (Conflict), and
		// for one never asked (Forbidden: an admin's or the DPO's decision, as include_no_history).
		if st := p.DoAs(agent, "POST", "/api/v1/contacts/"+ids[i]+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentRequested"}, nil); st != want {
			t.Errorf("agent records dpv:ConsentRequested for person %d: %d; want %d", i, st, want)
		}
	}
	if st := p.Do("POST", "/api/v1/contacts/"+person("asked.by.phone@example.org")+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentRequested"}, nil); st != 201 {
		t.Errorf("admin records dpv:ConsentRequested for a person never asked: %d; want 201", st)
	}
	var camp apptest.Campaign
	if st := p.DoAs(agent, "POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "newsletter", "subject": "May we?", "text": "May we write to you?"}, &camp); st != 201 {
		t.Fatalf("agent's consent request: %d", st)
	}
	p.DoAs(agent, "POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	if w := p.WaitWalked(camp.ID); w.Counts.Messages != 1 {
		t.Errorf("agent's default consent request queued %d requests (%+v); want one (the admin's): two said no, one was never asked, and an agent may not set include_no_history", w.Counts.Messages, w.Counts)
	}
}
