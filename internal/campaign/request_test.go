package campaign_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
)

var confirmRE = regexp.MustCompile(`https://tillit\.example/p/confirm/([A-Za-z0-9_-]+)`)

// TestConsentRequestAsksOnlyThoseWhoMayBeAsked: a consent-request campaign sends a double
// opt-in request (DESIGN §1.13) to those whose consent lapsed or was asked for and not
// answered; it leaves alone, counted by reason, those who agreed already, said no, may not be
// processed (GDPR Art. 18), were never asked (ePrivacy Directive Art. 13; unless an admin or
// the DPO chose to ask them) or got a sign-up message minutes ago. Each request can be refused
// with one click (RFC 8058), which records a refusal (GDPR Art. 7); its confirmation link gives
// consent. The recipients list says who was considered, with reasons only for those who may
// read them.
func TestConsentRequestAsksOnlyThoseWhoMayBeAsked(t *testing.T) {
	w := open(t, t.TempDir())
	defer w.db.Close()
	g, r, x, wd := consent.Given, consent.Requested, consent.Expired, consent.Withdrawn
	ppl := map[string]string{
		"expired":    w.person(t, "expired@example.org", g, x),
		"requested":  w.person(t, "requested@example.org", r),
		"given":      w.person(t, "given@example.org", g),
		"withdrawn":  w.person(t, "withdrawn@example.org", g, wd),
		"none":       w.person(t, "none@example.org"),
		"restricted": w.person(t, "restricted@example.org", g, x),
		"recent":     w.person(t, "recent@example.org"),
		"phone":      w.person(t, ""),
	}
	if _, err := w.contacts.SetRestricted(staff(), ppl["restricted"], true); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Update(staff(), func(tx store.Tx) error { // the person signed up on the form a minute ago
		_, err := w.optin.RequestIn(staff(), tx, ppl["recent"], optin.Request{Email: "recent@example.org", Purposes: []string{"newsletter"}}, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.mails(t) // the form's confirmation
	who := map[string]string{}
	for k, v := range ppl {
		who[v] = k
	}

	c, err := w.svc.Create(as("agent"), campaign.Campaign{Kind: campaign.KindConsentRequest, Purpose: "newsletter", Subject: "Still with us?", Text: "We would like to keep writing to you."})
	if err != nil {
		t.Fatal(err)
	}
	got := w.walk(t, c.ID)
	want := campaign.Counts{Walked: 8, Messages: 2, Queued: 2, Skipped: 5,
		SkippedBy: map[string]int{"consent_given": 1, "withdrawn": 1, "no_consent_history": 1, "restricted": 1, "rate_limited": 1}}
	if fmt.Sprint(*got.Counts) != fmt.Sprint(want) {
		t.Errorf("counts = %+v; want %+v", *got.Counts, want)
	}

	recs, next, err := w.svc.Recipients(as("dpo"), c.ID, "", campaign.MaxRecipientsPage)
	if err != nil || next != "" {
		t.Fatal(next, err)
	}
	var list []string
	for _, rc := range recs {
		list = append(list, who[rc.ContactID]+":"+rc.Outcome+":"+rc.Reason)
	}
	slices.Sort(list)
	if want := []string{"expired:queued:", "given:skipped:consent_given", "none:skipped:no_consent_history", "recent:skipped:rate_limited",
		"requested:queued:", "restricted:skipped:restricted", "withdrawn:skipped:withdrawn"}; !slices.Equal(list, want) {
		t.Errorf("recipients = %q; want %q", list, want)
	}
	page, next, err := w.svc.Recipients(as("auditor"), c.ID, "", 3)
	if err != nil || len(page) != 3 || next != page[2].ContactID || page[0].Reason != "" || page[1].Reason != "" || page[2].Reason != "" {
		t.Errorf("a page of 3 without reasons = %+v, %q, %v", page, next, err)
	}
	rest, end, err := w.svc.Recipients(as("auditor"), c.ID, next, 3)
	if err != nil || len(rest) != 3 || end == "" || rest[0].ContactID <= next {
		t.Errorf("the second page = %+v, %q, %v; want the next three", rest, end, err)
	}
	if _, _, err := w.svc.Recipients(as("dpo"), c.ID, "", 0); apperr.As(err) == nil || apperr.As(err).Field != "limit" {
		t.Errorf("limit 0: %v; want Invalid on limit", err)
	}
	if _, _, err := w.svc.Recipients(as("dpo"), "nope", "", 10); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("an unknown campaign: %v; want NotFound", err)
	}

	ms := w.mails(t)
	byTo := map[string]message{}
	for _, m := range ms {
		for k, id := range ppl {
			if strings.Contains(m.header.Get("To"), k+"@") {
				byTo[who[id]] = m
			}
		}
	}
	if len(ms) != 2 || byTo["expired"].text == "" || byTo["requested"].text == "" {
		t.Fatalf("%d messages to %v; want the expired and the requested person's", len(ms), byTo)
	}
	m := byTo["expired"]
	refuse := unsubRE.FindStringSubmatch(m.text)
	if m.header.Get("Subject") != "Still with us?" || !strings.HasPrefix(m.text, "We would like to keep writing to you.") ||
		refuse == nil || !strings.Contains(m.header.Get("List-Unsubscribe"), refuse[0]) || m.header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("the request: subject %q, List-Unsubscribe %q, text:\n%s", m.header.Get("Subject"), m.header.Get("List-Unsubscribe"), m.text)
	}
	if ok, err := w.unsub.Withdraw(context.Background(), refuse[1], "", "", false); !ok || err != nil {
		t.Fatalf("Withdraw = %v, %v; want the refusal recorded", ok, err)
	}
	confirm := confirmRE.FindStringSubmatch(byTo["requested"].text)
	if confirm == nil {
		t.Fatalf("no confirmation link in:\n%s", byTo["requested"].text)
	}
	if _, err := w.optin.Confirm(context.Background(), confirm[1], "192.0.2.1", "browser", false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]consent.Reason{"expired": consent.ReasonRefused, "requested": consent.ReasonConsentGiven} {
		if d, err := w.consent.Check(context.Background(), ppl[name], "newsletter"); err != nil || d.Reason != want {
			t.Errorf("%s after answering: %+v, %v; want %s", name, d, err, want)
		}
	}

	again, err := w.svc.Create(as("admin"), campaign.Campaign{Kind: campaign.KindConsentRequest, IncludeNoHistory: true, Purpose: "newsletter", Subject: "Hello?", Text: "May we?"})
	if err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(10 * time.Minute) // past the pause between two sign-up messages (optin.Service.ResendAfter)
	got = w.walk(t, again.ID)
	want = campaign.Counts{Walked: 8, Messages: 2, Queued: 2, Skipped: 5,
		SkippedBy: map[string]int{"consent_given": 2, "refused": 1, "withdrawn": 1, "restricted": 1}}
	if fmt.Sprint(*got.Counts) != fmt.Sprint(want) {
		t.Errorf("the second request with include_no_history: %+v; want %+v (the person never asked and the recent one asked now)", *got.Counts, want)
	}
}
