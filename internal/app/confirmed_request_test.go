package app_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestConfirmedRequestActsAtOnce: a person with consent, shared with a processor, asks through
// the portal for erasure (then for restriction) and confirms by the link in the mail. From that
// moment the gate refuses with the request's own reason, a marketing campaign skips them and a
// disclosure to the processor is refused; rejecting the request allows all three again. Before,
// the person who confirmed "erase me" was mailed and shared until staff answered, up to a month.
func TestConfirmedRequestActsAtOnce(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	const addr = "ylva.strand@example.org"
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Ylva"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	if st := p.Do("POST", "/api/v1/processors", map[string]any{"id": "mailer", "name": "Mailer AB", "purposes": []string{"newsletter"},
		"data_categories": []string{"email"}, "country": "SE", "dpa_status": "signed", "dpa_signed_at": "2026-01-01T00:00:00Z"}, nil); st != 201 {
		t.Fatalf("processor: %d", st)
	}
	// allowed asks the gate, a disclosure and a campaign, and says whether each let Ylva through;
	// a refusal must carry want as its reason.
	allowed := func(step, want string) {
		t.Helper()
		var d struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		}
		if st := p.Do("POST", "/api/v1/consent-checks", map[string]any{"contact_id": c.ID, "purpose": "newsletter"}, &d); st != 200 || d.Reason != want || d.Allowed != (want == "consent_given") {
			t.Errorf("%s: gate %d %+v; want %s", step, st, d, want)
		}
		var prob apptest.Problem
		st := p.Do("POST", "/api/v1/disclosures", map[string]any{"contact_id": c.ID, "processor_id": "mailer", "purpose": "newsletter", "fields": []string{"email"}}, &prob)
		if want == "consent_given" && st != 201 || want != "consent_given" && (st != 403 || prob.Reason != want) {
			t.Errorf("%s: disclosure %d %+v; want %s", step, st, prob, want)
		}
		var camp struct{ ID string }
		if st := p.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News: " + step, "text": "Hello."}, &camp); st != 201 {
			t.Fatalf("%s: campaign: %d", step, st)
		}
		if st := p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil); st != 202 {
			t.Fatalf("%s: send: %d", step, st)
		}
		got := p.WaitWalked(camp.ID)
		if want == "consent_given" {
			if got.Counts.Messages != 1 {
				t.Errorf("%s: campaign counts %+v; want Ylva's message", step, got.Counts)
			}
			if d := sink.Next(t); d.To[0] != addr || !strings.Contains(string(d.Data), "News: "+step) {
				t.Errorf("%s: mail to %v; want the campaign", step, d.To)
			}
		} else if got.Counts.Messages != 0 || got.Counts.SkippedBy[want] != 1 {
			t.Errorf("%s: campaign counts %+v; want Ylva skipped as %s", step, got.Counts, want)
		}
	}
	allowed("before any request", "consent_given")

	for _, tc := range []struct{ typ, reason string }{{"erasure", "erasure_requested"}, {"restriction", "restriction_requested"}} {
		if st, _ := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {tc.typ}, "email": {addr}}); st != 200 {
			t.Fatalf("%s intake: %d", tc.typ, st)
		}
		_, text := apptest.ParseMessage(t, sink.Next(t))
		v, _ := url.Parse(apptest.VerifyLink.FindString(text))
		allowed(tc.typ+" asked, not yet confirmed", "consent_given") // anyone can post an address
		st, page := apptest.PostForm(t, p.Base, v.Path, nil)
		if st != 200 || !strings.Contains(page, "share none of your data") {
			t.Errorf("%s confirmed: %d %s; want the page to say use stops now", tc.typ, st, page)
		}
		allowed(tc.typ+" confirmed", tc.reason)

		var queue struct{ Items []apptest.Request }
		p.Do("GET", "/api/v1/requests?type="+tc.typ+"&state=in_progress", nil, &queue)
		if len(queue.Items) != 1 {
			t.Fatalf("%s queue: %+v", tc.typ, queue.Items)
		}
		if st := p.Do("POST", "/api/v1/requests/"+queue.Items[0].ID+"/reject", map[string]any{"reason": "The data is needed for an open invoice."}, nil); st != 200 {
			t.Fatalf("%s reject: %d", tc.typ, st)
		}
		if _, text := apptest.ParseMessage(t, sink.Next(t)); !strings.Contains(text, "open invoice") {
			t.Errorf("%s rejection notice: %s", tc.typ, text)
		}
		allowed(tc.typ+" rejected", "consent_given")
	}
}
