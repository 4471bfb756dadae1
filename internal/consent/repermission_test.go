package consent_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestRepermissionListIsTheCampaignsAudience: found by a fresh-user trial (issue 11). The README
// calls GET /api/v1/purposes/{id}/repermission the list of "whom a consent-request campaign
// asks", but it listed restricted and objected people the campaign never asks and left out
// people whose consent was requested and not answered, whom it does ask. Now both apply one
// rule (consent.AskOf): for a mixed population the list is exactly whom the campaign mails.
func TestRepermissionListIsTheCampaignsAudience(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	p := r.P
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "tips", "name": "Tips", "lawful_basis": "dpv:Consent", "direct_marketing": true, "consent_valid_days": 365}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	ids := map[string]string{}
	person := func(name string, states ...string) string {
		t.Helper()
		var c apptest.Contact
		if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": name + "@example.org"}, &c); st != 201 {
			t.Fatalf("create %s: %d", name, st)
		}
		for _, s := range states {
			e := map[string]any{"purpose": "tips", "state": s, "method": "web-form"}
			if s == "old" { // given two years ago; valid for one
				e["state"], e["occurred_at"] = "dpv:ConsentGiven", time.Now().UTC().AddDate(-2, 0, 0).Format(time.RFC3339)
			}
			if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", e, nil); st != 201 {
				t.Fatalf("%s: %s: %d", name, s, st)
			}
		}
		ids[c.ID] = name
		return c.ID
	}
	publish := func(body string, material bool) {
		t.Helper()
		var v struct{ ID string }
		p.Do("POST", "/api/v1/policies", map[string]any{"document": "privacy_policy", "body": body, "material": material}, &v)
		if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil); st != 200 {
			t.Fatalf("publish: %d", st)
		}
	}
	publish("# Privacy v1", false)
	person("reconsent", "dpv:ConsentGiven")
	publish("# Privacy v2", true) // a material change: reconsent needs to consent again
	person("given", "dpv:ConsentGiven")
	person("refused", "dpv:ConsentRequested", "dpv:ConsentRefused")
	person("withdrawn", "dpv:ConsentGiven", "dpv:ConsentWithdrawn")
	objected := person("objected", "old")
	if st := p.Do("POST", "/api/v1/contacts/"+objected+"/objections", map[string]any{"scope": "direct_marketing", "method": "staff"}, nil); st != 201 {
		t.Fatalf("objection: %d", st)
	}
	restricted := person("restricted", "old")
	if st := p.Do("PUT", "/api/v1/contacts/"+restricted+"/restriction", nil, nil); st != 200 && st != 204 {
		t.Fatalf("restrict: %d", st)
	}
	person("suppressed", "old")
	r.Bounce("suppressed@example.org")
	person("requested", "dpv:ConsentRequested")
	person("expired", "dpv:ConsentGiven", "dpv:ConsentExpired")
	person("aged", "old")
	person("nohistory")
	want := map[string]string{"given": "consent_given", "refused": "refused", "withdrawn": "withdrawn", "objected": "objected", "restricted": "restricted",
		"suppressed": "suppressed", "requested": "no_consent", "expired": "expired", "aged": "expired", "reconsent": "needs_reconsent", "nohistory": "no_consent"}
	for id, name := range ids {
		if g := r.Gate(id, "tips"); g != want[name] {
			t.Fatalf("%s: gate %s; want %s", name, g, want[name])
		}
	}

	var listed []string
	for cursor := ""; ; {
		var page struct {
			Items []struct {
				ContactID string `json:"contact_id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if st := p.Do("GET", "/api/v1/purposes/tips/repermission?limit=2&cursor="+cursor, nil, &page); st != 200 {
			t.Fatalf("repermission: %d", st)
		}
		for _, it := range page.Items {
			listed = append(listed, ids[it.ContactID])
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	slices.Sort(listed)

	var camp struct{ ID string }
	if st := p.Do("POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "tips", "subject": "May we?", "text": "Tips now and then."}, &camp); st != 201 {
		t.Fatalf("campaign: %d", st)
	}
	if st := p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil); st != 202 {
		t.Fatalf("send: %d", st)
	}
	got := p.WaitWalked(camp.ID)
	var asked []string
	for range got.Counts.Messages {
		d := r.Sink.Next(t)
		asked = append(asked, d.To[0][:len(d.To[0])-len("@example.org")])
	}
	slices.Sort(asked)
	wantAsked := []string{"aged", "expired", "reconsent", "requested"}
	if !slices.Equal(asked, wantAsked) {
		t.Errorf("the campaign asked %v; want %v", asked, wantAsked)
	}
	if !slices.Equal(listed, asked) {
		t.Errorf("the re-permission list is %v; the campaign asked %v", listed, asked)
	}
}
