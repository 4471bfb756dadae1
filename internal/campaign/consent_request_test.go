package campaign_test

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestConsentRequestsOnlyToThoseWhoMayBeAsked: found by issue 11. A consent-request campaign
// mailed everyone without valid consent, those never asked included (an e-mail asking for
// marketing consent is itself direct marketing, ePrivacy Directive Art. 13), and its mail had no
// List-Unsubscribe. Now it asks by default only those whose consent expired, needs renewal after
// a material policy change, or was requested and not answered; never those who refused,
// withdrew, objected, are restricted or suppressed; people with no history only with
// include_no_history, which only an admin or the DPO may set and which draws a warning. Every
// request carries List-Unsubscribe and List-Unsubscribe-Post, whose use records a refusal
// (audited), and the person is not asked again.
func TestConsentRequestsOnlyToThoseWhoMayBeAsked(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{
		"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none&sessions=1", "TILLIT_UNSUBSCRIBE_MAILTO": "unsubscribe@tillit.example",
	}))
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "tips", "name": "Tips", "lawful_basis": "dpv:Consent", "direct_marketing": true, "consent_valid_days": 365}, nil); st != 201 {
		t.Fatal("purpose")
	}
	publish := func(body string, material bool) {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		p.Do("POST", "/api/v1/policies", map[string]any{"document": "privacy_policy", "body": body, "material": material}, &v)
		if st := p.Do("POST", "/api/v1/policies/"+v.ID+"/publish", nil, nil); st != 200 {
			t.Fatalf("publish: %d", st)
		}
	}
	ids := map[string]string{}
	person := func(email string, events ...map[string]any) string {
		t.Helper()
		var c apptest.Contact
		if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": email}, &c); st != 201 {
			t.Fatalf("create %s: %d", email, st)
		}
		for _, e := range events {
			e["purpose"] = "tips"
			if _, ok := e["method"]; !ok {
				e["method"] = "web-form"
			}
			if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", e, nil); st != 201 {
				t.Fatalf("consent %v for %s: %d", e, email, st)
			}
		}
		ids[email] = c.ID
		return c.ID
	}
	state := func(s string) map[string]any { return map[string]any{"state": s} }
	twoYearsAgo := map[string]any{"state": "dpv:ConsentGiven", "occurred_at": time.Now().AddDate(-2, 0, 0).UTC().Format(time.RFC3339)}

	publish("# Privacy v1", false)
	person("reconsent@example.org", state("dpv:ConsentGiven"))
	publish("# Privacy v2", true) // a material change: reconsent@ needs to consent again
	person("never@example.org")
	person("expired@example.org", twoYearsAgo)
	person("asked@example.org", state("dpv:ConsentRequested"))
	person("refused@example.org", state("dpv:ConsentRefused"))
	person("withdrawn@example.org", state("dpv:ConsentGiven"), state("dpv:ConsentWithdrawn"))
	person("given@example.org", state("dpv:ConsentGiven"))
	objected := person("objected@example.org", map[string]any{"state": "dpv:ConsentGiven", "occurred_at": time.Now().AddDate(-2, 0, 0).UTC().Format(time.RFC3339)})
	if st := p.Do("POST", "/api/v1/contacts/"+objected+"/objections", map[string]any{"scope": "direct_marketing", "method": "staff"}, nil); st != 201 {
		t.Fatalf("objection: %d", st)
	}
	restricted := person("restricted@example.org", twoYearsAgo)
	if st := p.Do("PUT", "/api/v1/contacts/"+restricted+"/restriction", nil, nil); st != 200 && st != 204 {
		t.Fatalf("restrict: %d", st)
	}
	person("bounced@example.org", twoYearsAgo)
	p.Bounce("bounced@example.org")

	// Who may set include_no_history: not an agent (403 naming the field), not on a marketing
	// campaign (400); an admin's campaign carries the warning.
	agentOut := p.Mint("agent", "agent", "")
	agent := strings.TrimSpace(agentOut)
	body := func(kind string, noHistory bool) map[string]any {
		return map[string]any{"kind": kind, "purpose": "tips", "subject": "May we send you tips?", "text": "We would like to send you tips now and then.", "include_no_history": noHistory}
	}
	var prob apptest.Problem
	if st := p.DoAs(agent, "POST", "/api/v1/campaigns", body("consent_request", true), &prob); st != 403 || prob.Field != "include_no_history" || prob.Reason != "role_forbidden" {
		t.Errorf("agent with include_no_history: %d %+v; want 403 role_forbidden naming include_no_history", st, prob)
	}
	if st := p.Do("POST", "/api/v1/campaigns", body("marketing", true), &prob); st != 400 || prob.Field != "include_no_history" {
		t.Errorf("include_no_history on a marketing campaign: %d %+v; want 400 naming include_no_history", st, prob)
	}
	type campaignOut struct {
		apptest.Campaign
		IncludeNoHistory bool     `json:"include_no_history"`
		Warnings         []string `json:"warnings"`
	}
	var camp campaignOut
	if st := p.DoAs(agent, "POST", "/api/v1/campaigns", body("consent_request", false), &camp); st != 201 || camp.IncludeNoHistory || len(camp.Warnings) != 0 {
		t.Fatalf("agent's consent request: %d %+v; want 201 without the option or a warning", st, camp)
	}

	// The default audience: the lapsed and the unanswered only.
	p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	w := p.WaitWalked(camp.ID)
	wantSkipped := map[string]int{"no_consent_history": 1, "refused": 1, "withdrawn": 1, "objected": 1, "restricted": 1, "suppressed": 1, "consent_given": 1}
	if w.Counts.Messages != 3 || w.Counts.Walked != 10 || !sameCounts(w.Counts.SkippedBy, wantSkipped) {
		t.Fatalf("counts %+v; want 3 requests (expired, reconsent, asked) and skipped %v", w.Counts, wantSkipped)
	}
	refuse := map[string]string{} // address → its refusal link
	for range 3 {
		d := sink.Next(t)
		msg, text := apptest.ParseMessage(t, d)
		lu := msg.Header.Get("List-Unsubscribe")
		link := regexp.MustCompile(`<(https?://[^>]+/u/[A-Za-z0-9_-]+)>`).FindStringSubmatch(lu)
		if link == nil || !strings.Contains(lu, "<mailto:unsubscribe@tillit.example?subject=unsubscribe>") || msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Fatalf("request to %v: List-Unsubscribe %q, List-Unsubscribe-Post %q; want both (RFC 2369, RFC 8058)", d.To, lu, msg.Header.Get("List-Unsubscribe-Post"))
		}
		if !apptest.ConfirmLink.MatchString(text) || !strings.Contains(text, "Not interested? Say so with one click and we will not ask you again: "+link[1]) {
			t.Errorf("request to %v: %q; want the confirmation link and the visible refusal link", d.To, text)
		}
		refuse[d.To[0]] = link[1]
	}
	if len(refuse) != 3 || refuse["expired@example.org"] == "" || refuse["reconsent@example.org"] == "" || refuse["asked@example.org"] == "" {
		t.Fatalf("requests went to %v; want expired@, reconsent@ and asked@", refuse)
	}

	gate := func(email string) string {
		var d struct {
			Reason string `json:"reason"`
		}
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": ids[email], "purpose": "tips"}, &d)
		return d.Reason
	}
	// One-click (RFC 8058) from the mail client: a refusal, audited.
	if resp, err := http.Post(refuse["expired@example.org"], "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("one-click POST: %v %v", resp, err)
	}
	if g := gate("expired@example.org"); g != "refused" {
		t.Errorf("after the one-click refusal: gate %s; want refused", g)
	}
	var ledger struct {
		Current []struct{ Purpose, State, Method string } `json:"current"`
	}
	p.Do("GET", "/api/v1/contacts/"+ids["expired@example.org"]+"/consents", nil, &ledger)
	if len(ledger.Current) != 1 || ledger.Current[0].State != "dpv:ConsentRefused" || ledger.Current[0].Method != "one-click-unsubscribe" {
		t.Errorf("ledger after the one-click refusal: %+v; want dpv:ConsentRefused by one-click-unsubscribe", ledger.Current)
	}
	var audit struct {
		Items []struct {
			Action  string   `json:"action"`
			Fields  []string `json:"fields"`
			Purpose string   `json:"purpose"`
		} `json:"items"`
	}
	p.Do("GET", "/api/v1/contacts/"+ids["expired@example.org"]+"/audit?limit=1000", nil, &audit)
	if !slices.ContainsFunc(audit.Items, func(e struct {
		Action  string   `json:"action"`
		Fields  []string `json:"fields"`
		Purpose string   `json:"purpose"`
	}) bool {
		return e.Action == "consent.record" && e.Purpose == "tips" && slices.Contains(e.Fields, "consent.dpv:ConsentRefused")
	}) {
		t.Errorf("audit of the refusal: %+v; want consent.record of dpv:ConsentRefused for tips", audit.Items)
	}
	// The link itself: GET shows what the button does and changes nothing; the button refuses.
	resp, err := http.Get(refuse["asked@example.org"])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Not interested in \u201cTips\u201d?") || !strings.Contains(string(page), "Do not ask me again</button>") || gate("asked@example.org") != "no_consent" {
		t.Errorf("GET of the refusal link: %s, gate %s; want the page and nothing changed", page, gate("asked@example.org"))
	}
	if resp, err := http.PostForm(refuse["asked@example.org"], nil); err != nil || resp.StatusCode != 200 || gate("asked@example.org") != "refused" {
		t.Errorf("the page's button: %v %v, gate %s; want refused", resp, err, gate("asked@example.org"))
	}

	// An admin asks people with no history too, with the warning; those who refused are not
	// asked again; reconsent@ was sent a link minutes ago (rate_limited, counted).
	var wide campaignOut
	if st := p.Do("POST", "/api/v1/campaigns", body("consent_request", true), &wide); st != 201 || !wide.IncludeNoHistory || len(wide.Warnings) != 1 || !strings.Contains(wide.Warnings[0], "ePrivacy Directive Art. 13") {
		t.Fatalf("admin's consent request with include_no_history: %d %+v; want 201 with the ePrivacy warning", st, wide)
	}
	var again campaignOut
	p.Do("GET", "/api/v1/campaigns/"+wide.ID, nil, &again)
	if !again.IncludeNoHistory || len(again.Warnings) != 1 {
		t.Errorf("GET of the campaign: %+v; want the option and its warning kept", again)
	}
	p.Do("POST", "/api/v1/campaigns/"+wide.ID+"/send", nil, nil)
	w = p.WaitWalked(wide.ID)
	wantSkipped = map[string]int{"refused": 3, "withdrawn": 1, "objected": 1, "restricted": 1, "suppressed": 1, "consent_given": 1, "rate_limited": 1}
	if w.Counts.Messages != 1 || !sameCounts(w.Counts.SkippedBy, wantSkipped) {
		t.Errorf("counts %+v; want 1 request (never@) and skipped %v", w.Counts, wantSkipped)
	}
	if d := sink.Next(t); d.To[0] != "never@example.org" {
		t.Errorf("the request with include_no_history went to %v; want never@", d.To)
	}
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestConsentRequestGatedAtHandOff: a consent request waits in the outbox like any message; a
// "no" or a block that comes meanwhile (here a refusal and a hard bounce while the first request
// is in the SMTP server's hands) stops it at hand-off, as for marketing mail, and the campaign
// counts it by reason.
func TestConsentRequestGatedAtHandOff(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	sink.Hold, sink.Held = make(chan struct{}), make(chan struct{})
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none&sessions=1"}))
	ids := map[string]string{}
	for _, e := range []string{"first@example.org", "says.no@example.org", "bounces@example.org"} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentExpired", "method": "staff", "evidence": "Consent ran out."}, nil)
		ids[e] = c.ID
	}
	var camp apptest.Campaign
	if st := p.Do("POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "newsletter", "subject": "Still with us?", "text": "May we go on writing to you?"}, &camp); st != 201 {
		t.Fatalf("create: %d", st)
	}
	p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	<-sink.Held
	if w := p.WaitWalked(camp.ID); w.Counts.Messages != 3 {
		t.Fatalf("walk: %+v; want 3 requests queued", w.Counts)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+ids["says.no@example.org"]+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentRefused", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("refuse: %d", st)
	}
	p.Bounce("bounces@example.org")
	close(sink.Hold)
	if d := sink.Next(t); d.To[0] != "first@example.org" {
		t.Fatalf("delivered to %v; want first@", d.To)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.Do("GET", "/api/v1/campaigns/"+camp.ID, nil, &camp)
		if camp.Counts.Queued == 0 {
			break
		}
	}
	if camp.Counts.Sent != 1 || camp.Counts.Skipped != 2 || camp.Counts.SkippedBy["refused"] != 1 || camp.Counts.SkippedBy["suppressed"] != 1 {
		t.Errorf("counts %+v; want 1 sent, the refused and the suppressed skipped at hand-off", camp.Counts)
	}
	select {
	case extra := <-sink.Msgs:
		t.Errorf("a request to %v was delivered after its person said no or bounced", extra.To)
	default:
	}
}
