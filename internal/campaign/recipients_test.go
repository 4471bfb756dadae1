package campaign_test

import (
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/token"
)

type recipientJSON struct {
	ContactID string `json:"contact_id"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason"`
}

// recipients reads, on p, every page of a campaign's recipients list with token, limit per page.
func recipients(t *testing.T, p *apptest.Server, token, id, limit string) []recipientJSON {
	t.Helper()
	var all []recipientJSON
	cursor := ""
	for range 100 {
		var page struct {
			Items      []recipientJSON `json:"items"`
			NextCursor string          `json:"next_cursor"`
		}
		if st := p.DoAs(token, "GET", "/api/v1/campaigns/"+id+"/recipients?limit="+limit+"&cursor="+cursor, nil, &page); st != 200 {
			t.Fatalf("recipients: %d", st)
		}
		all = append(all, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			return all
		}
	}
	t.Fatal("the recipients list never ended")
	return nil
}

// TestCampaignListsWhoWasConsidered (issue 11, item 8): a campaign said how many it sent and
// skipped, never whom. GET /api/v1/campaigns/{id}/recipients lists every audience member it
// considered with the outcome and, for roles that may read contacts, the reason; the auditor
// gets ids and outcomes only.
func TestCampaignListsWhoWasConsidered(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir), apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"}))
	want := map[string]recipientJSON{}
	for _, who := range []struct{ email, state, outcome, reason string }{
		{"agreed.one@example.org", "dpv:ConsentGiven", "sent", ""},
		{"never.asked@example.org", "", "skipped", "no_consent"},
		{"changed.mind@example.org", "dpv:ConsentWithdrawn", "skipped", "withdrawn"},
		{"agreed.two@example.org", "dpv:ConsentGiven", "sent", ""},
	} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": who.email}, &c)
		if who.state != "" {
			p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
		}
		if who.state == "dpv:ConsentWithdrawn" {
			p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": who.state, "method": "web-form"}, nil)
		}
		want[c.ID] = recipientJSON{ContactID: c.ID, Outcome: who.outcome, Reason: who.reason}
	}
	var camp struct{ ID string }
	p.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp)
	p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	p.WaitCampaign(camp.ID, func(c apptest.Campaign) bool { return c.Status == "sent" && c.Counts.Queued == 0 })
	sink.Next(t)
	sink.Next(t)

	tokens := map[string]string{"admin": p.Token}
	for _, role := range []string{"agent", "dpo", "auditor"} {
		tokens[role] = p.Mint(token.Role(role), role, "")
	}
	for role, tok := range tokens {
		got := recipients(t, p, tok, camp.ID, "3") // two pages
		if len(got) != len(want) {
			t.Errorf("%s: %d recipients %+v; want %d", role, len(got), got, len(want))
			continue
		}
		for i, r := range got {
			w := want[r.ContactID]
			if role == "auditor" {
				w.Reason = "" // the reason is the person's consent state
			}
			if r != w || (i > 0 && got[i-1].ContactID >= r.ContactID) {
				t.Errorf("%s: recipient %d = %+v; want %+v, in contact id order", role, i, r, w)
			}
		}
	}
	var prob apptest.Problem
	if st := p.Do("GET", "/api/v1/campaigns/"+camp.ID+"/recipients?limit=5000", nil, &prob); st != 400 || prob.Field != "limit" {
		t.Errorf("limit 5000: %d %+v; want 400 naming limit", st, prob)
	}
}
