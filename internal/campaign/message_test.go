package campaign_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

var unsubRE = regexp.MustCompile(`https://tillit\.example/u/([A-Za-z0-9_-]+)`)

// TestMarketingMessageCarriesItsWayOut: every marketing message carries List-Unsubscribe and
// List-Unsubscribe-Post (RFC 2369, RFC 8058 §3.1), a visible one-click unsubscribe link, a
// link to the preference center and the sender's postal address, in the text and (before
// </body>) in the HTML; its link withdraws the person's consent for the campaign's purpose
// (GDPR Art. 7(3)), and the person is not mailed by the next campaign.
func TestMarketingMessageCarriesItsWayOut(t *testing.T) {
	w := open(t, t.TempDir())
	defer w.db.Close()
	w.svc.Mailto = "unsubscribe@tillit.example"
	w.svc.Postal = "Example AB, Storgatan 1 <Umeå>"
	id := w.person(t, "ada@example.org", consent.Given)
	c, err := w.svc.Create(staff(), campaign.Campaign{Purpose: "newsletter", Subject: "Autumn news", Text: "Hello.",
		HTML: "<html><body><p>Hello.</p></body></html>"})
	if err != nil {
		t.Fatal(err)
	}
	got := w.walk(t, c.ID)
	if got.Counts.Messages != 1 || got.Counts.Queued != 1 || got.Status != campaign.StatusSent {
		t.Fatalf("after the walk: %s %+v; want one queued", got.Status, got.Counts)
	}
	ms := w.mails(t)
	if len(ms) != 1 {
		t.Fatalf("%d messages; want 1", len(ms))
	}
	m := ms[0]
	if to := m.header.Get("To"); !strings.Contains(to, "ada@example.org") || m.header.Get("Subject") != "Autumn news" {
		t.Errorf("To %q, Subject %q", to, m.header.Get("Subject"))
	}
	lu := m.header.Get("List-Unsubscribe")
	if !strings.Contains(lu, "<https://tillit.example/u/") || !strings.Contains(lu, "<mailto:unsubscribe@tillit.example") ||
		m.header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe %q, List-Unsubscribe-Post %q; want the HTTPS link, the mailto and One-Click", lu, m.header.Get("List-Unsubscribe-Post"))
	}
	for _, want := range []string{"Hello.\n\n--\nUnsubscribe with one click: https://tillit.example/u/", "Choose which mail you receive: https://tillit.example/p/preferences/", "Example AB, Storgatan 1 <Umeå>"} {
		if !strings.Contains(m.text, want) {
			t.Errorf("the text lacks %q:\n%s", want, m.text)
		}
	}
	if !strings.HasSuffix(m.html, "Example AB, Storgatan 1 &lt;Umeå&gt;</p></body></html>") || !strings.Contains(m.html, `<a href="https://tillit.example/u/`) {
		t.Errorf("the HTML footer is not before </body> with the postal address escaped:\n%s", m.html)
	}
	link := unsubRE.FindStringSubmatch(m.text)
	if link == nil || !strings.Contains(lu, link[0]) {
		t.Fatalf("the visible link %v is not the header's %q", link, lu)
	}

	if ok, err := w.unsub.Withdraw(context.Background(), link[1], "192.0.2.9", "mail client", false); !ok || err != nil {
		t.Fatalf("Withdraw = %v, %v; want the withdrawal recorded", ok, err)
	}
	if d, err := w.consent.Check(context.Background(), id, "newsletter"); err != nil || d.Reason != consent.ReasonWithdrawn {
		t.Errorf("Check after the link = %+v, %v; want withdrawn", d, err)
	}
	next, _ := w.svc.Create(staff(), campaign.Campaign{Purpose: "newsletter", Subject: "Winter news", Text: "Hello again."})
	if got := w.walk(t, next.ID); got.Counts.Messages != 0 || got.Counts.SkippedBy["withdrawn"] != 1 {
		t.Errorf("the next campaign: %+v; want the person skipped as withdrawn", got.Counts)
	}
	evs, _ := w.db.AuditEvents(staff(), storeFilter("contact", id))
	reads := 0
	for _, e := range evs {
		if e.Action == "contact.read" {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("%d audited reads of the person; want 1 (to address the message; a skip reads nothing)", reads)
	}
}

// TestTaggedAudience: an audience with a tag mails those with the tag (in any case) whom the
// gate allows; people without it, and refused people (whose tags are not read: reading them
// would be processing, GDPR Art. 5(1)(c)), are walked but neither mailed nor counted.
func TestTaggedAudience(t *testing.T) {
	w := open(t, t.TempDir())
	defer w.db.Close()
	vip := w.add(t, contact.Input{Email: "vip@example.org", Tags: []string{"VIP"}}, consent.Given)
	w.add(t, contact.Input{Email: "plain@example.org", Tags: []string{"other"}}, consent.Given)
	w.add(t, contact.Input{Email: "gone@example.org", Tags: []string{"vip"}}, consent.Given, consent.Withdrawn)
	w.add(t, contact.Input{Email: "lead@example.org", Kind: contact.KindLead, Tags: []string{"vip"}}, consent.Given)
	c, err := w.svc.Create(staff(), campaign.Campaign{Purpose: "newsletter", Subject: "VIP", Text: "Hi.", Audience: campaign.Audience{Kind: contact.KindContact, Tag: "vip"}})
	if err != nil {
		t.Fatal(err)
	}
	got := w.walk(t, c.ID)
	if got.Counts.Walked != 3 || got.Counts.Messages != 1 || got.Counts.Skipped != 0 {
		t.Errorf("counts = %+v; want 3 contacts walked (not the lead), 1 mailed, none counted as skipped", got.Counts)
	}
	if rows := outboxRows(t, w.dir, c.ID); len(rows) != 1 || !slices.Equal(rows[vip], []string{"queued"}) {
		t.Errorf("outbox = %v; want one row for the VIP", rows)
	}
}
