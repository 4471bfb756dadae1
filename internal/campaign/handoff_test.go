package campaign_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestCampaignGatedAtHandOff: a three-recipient campaign over real SMTP; while the first message
// is in flight, the third recipient withdraws; the third message is then skipped, not sent.
// Delivered messages carry RFC 8058 headers, a visible unsubscribe link and the postal address.
// One SMTP session (sessions=1), so the messages are handed over one after the other: with N
// sessions, up to N-1 others may be under way (each gated right before its own hand-off).
func TestCampaignGatedAtHandOff(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	sink.Hold, sink.Held = make(chan struct{}), make(chan struct{})
	keyFile, lookup := dkimKey(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{
		"TILLIT_DKIM_DOMAIN": "tillit.example", "TILLIT_DKIM_SELECTOR": "s1", "TILLIT_DKIM_KEY_FILE": keyFile,
		"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none&sessions=1", "TILLIT_MAIL_FROM": "news@tillit.example",
		"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_CONTROLLER_STREET": "Storgatan 1", "TILLIT_CONTROLLER_CITY": "Umeå",
		"TILLIT_UNSUBSCRIBE_MAILTO": "unsubscribe@tillit.example",
	}))
	var ids []string
	for _, e := range []string{"first@example.org", "O'Brien+news&x=1%2/y@example.org", "third@example.org", "never.agreed@example.org"} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		ids = append(ids, c.ID)
		if !strings.HasPrefix(e, "never") {
			p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
		}
	}
	var camp struct {
		ID     string `json:"id"`
		Counts struct {
			Queued, Sent, Skipped int
			SkippedBy             map[string]int `json:"skipped_by"`
		} `json:"counts"`
	}
	if st := p.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "Spring news", "text": "Hello from Norrsken.", "html": "<p>Hello from Norrsken.</p>"}, &camp); st != 201 {
		t.Fatalf("create campaign: %d", st)
	}
	if st := p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil); st != 202 {
		t.Fatalf("send: %d; want 202", st)
	}
	<-sink.Held // the first message is in the SMTP server's hands
	if w := p.WaitWalked(camp.ID); w.Counts.Messages != 3 || w.Counts.SkippedBy["no_consent"] != 1 || w.Counts.Walked != 4 {
		t.Fatalf("walk: %+v; want 4 walked, 3 messages queued and the one without consent skipped", w.Counts)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+ids[2]+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "one-click-unsubscribe"}, nil); st != 201 {
		t.Fatalf("withdraw: %d", st)
	}
	close(sink.Hold)
	first, second := sink.Next(t), sink.Next(t)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.Do("GET", "/api/v1/campaigns/"+camp.ID, nil, &camp)
		if camp.Counts.Queued == 0 {
			break
		}
	}
	if camp.Counts.Sent != 2 || camp.Counts.Skipped != 2 || camp.Counts.SkippedBy["withdrawn"] != 1 || camp.Counts.SkippedBy["no_consent"] != 1 {
		t.Errorf("counts %+v; want 2 sent, 1 skipped withdrawn, 1 skipped no_consent", camp.Counts)
	}
	if first.To[0] != "first@example.org" || second.To[0] != "o'brien+news&x=1%2/y@example.org" {
		t.Errorf("delivered to %v and %v; want first and second only", first.To, second.To)
	}
	select {
	case extra := <-sink.Msgs:
		t.Errorf("a message to %v was delivered after the withdrawal", extra.To)
	default:
	}
	// DKIM (RFC 6376) verifies, and covers both unsubscribe headers (RFC 8058 §4).
	for _, d := range []apptest.Delivered{first, second} {
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(d.Data), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "tillit.example" {
			var vErr error
			if len(vs) > 0 {
				vErr = vs[0].Err
			}
			t.Fatalf("DKIM verification of the message to %v: %d results, %v, %v", d.To, len(vs), vErr, err)
		}
		signed := strings.ToLower(strings.Join(vs[0].HeaderKeys, ":"))
		if !strings.Contains(signed, "list-unsubscribe-post") || !strings.Contains(signed, "list-unsubscribe:") {
			t.Errorf("DKIM signs %s; want List-Unsubscribe and List-Unsubscribe-Post", signed)
		}
	}
	msg, text := apptest.ParseMessage(t, second)
	lu := msg.Header.Get("List-Unsubscribe")
	if !strings.Contains(lu, "/u/") || !strings.Contains(lu, "mailto:unsubscribe@tillit.example") || msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("headers List-Unsubscribe %q, List-Unsubscribe-Post %q", lu, msg.Header.Get("List-Unsubscribe-Post"))
	}
	if !strings.Contains(text, "Unsubscribe with one click: "+p.Base+"/u/") || !strings.Contains(text, "Choose which mail you receive: "+p.Base+"/p/preferences/") || !strings.Contains(text, "Norrsken AB, Storgatan 1, Umeå") || strings.Contains(lu, "brien") {
		t.Errorf("body %q; want a visible unsubscribe link and the postal address, no address in the link", text)
	}
	// Every link of the message works for an address full of URL-special characters, and a
	// scanner's GET changes nothing.
	link := regexp.MustCompile(`https?://\S+/u/[A-Za-z0-9_-]+`).FindString(text)
	gate := func() string {
		var d struct {
			Reason string `json:"reason"`
		}
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": ids[1], "purpose": "newsletter"}, &d)
		return d.Reason
	}
	all := regexp.MustCompile(`https?://\S+`).FindAllString(text, -1)
	if len(all) != 2 || !strings.Contains(all[1], "/p/preferences/") {
		t.Fatalf("links in the message %q; want the unsubscribe and preference links", all)
	}
	for _, l := range all {
		resp, err := http.Get(l)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "Newsletter") || gate() != "consent_given" {
			t.Fatalf("scanner GET of %s: %d, gate %s; want a page naming the purpose and no change", l, resp.StatusCode, gate())
		}
	}
	if resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); err != nil || resp.StatusCode != 200 || gate() != "withdrawn" {
		t.Errorf("one-click POST of the link in the message: %v %v, gate %s; want withdrawn", resp, err, gate())
	}
}

// TestConsentRequestCampaign: a consent-request campaign asks those whose consent lapsed
// (expired) or was requested and not answered by double opt-in, and leaves alone those who said
// no, agreed already, or were never asked (issue 11: see TestConsentRequestsOnlyToThoseWhoMayBeAsked).
func TestConsentRequestCampaign(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none"}))
	if st := p.Do("POST", "/api/v1/purposes", map[string]any{"id": "tips", "name": "Tips", "lawful_basis": "dpv:Consent", "consent_valid_days": 365}, nil); st != 201 {
		t.Fatal("purpose")
	}
	state := map[string]string{"none@example.org": "", "old@example.org": "given-2y", "asked@example.org": "dpv:ConsentRequested", "no@example.org": "dpv:ConsentWithdrawn", "yes@example.org": "dpv:ConsentGiven"}
	ids := map[string]string{}
	for _, e := range []string{"none@example.org", "old@example.org", "asked@example.org", "no@example.org", "yes@example.org"} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		ids[e] = c.ID
		switch st := state[e]; st {
		case "":
		case "given-2y":
			p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "tips", "state": "dpv:ConsentGiven", "method": "web-form", "occurred_at": time.Now().AddDate(-2, 0, 0).UTC().Format(time.RFC3339)}, nil)
		default:
			p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "tips", "state": st, "method": "web-form"}, nil)
		}
	}
	var camp struct {
		ID     string `json:"id"`
		Counts struct {
			Queued, Sent, Skipped int
			SkippedBy             map[string]int `json:"skipped_by"`
		} `json:"counts"`
	}
	if st := p.Do("POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "tips", "subject": "May we?", "text": "We would like to send you tips now and then."}, &camp); st != 201 {
		t.Fatalf("create: %d", st)
	}
	p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, &camp)
	if w := p.WaitWalked(camp.ID); w.Counts.Messages != 2 || w.Counts.SkippedBy["withdrawn"] != 1 || w.Counts.SkippedBy["consent_given"] != 1 || w.Counts.SkippedBy["no_consent_history"] != 1 {
		t.Fatalf("counts %+v; want 2 requests queued, the withdrawn, the consenting and the never asked left alone", w.Counts)
	}
	got := map[string]bool{}
	for range 2 {
		d := sink.Next(t)
		got[d.To[0]] = true
		msg, text := apptest.ParseMessage(t, d)
		if !apptest.ConfirmLink.MatchString(text) {
			t.Errorf("request to %s has no confirmation link", d.To[0])
		}
		if msg.Header.Get("Subject") != "May we?" || !strings.HasPrefix(text, "We would like to send you tips now and then.") ||
			!strings.Contains(text, "“Tips”") || strings.Contains(text, "asked to receive") {
			t.Errorf("request %q: %q; want the campaign's subject and text, naming the purpose", msg.Header.Get("Subject"), text)
		}
	}
	if !got["asked@example.org"] || !got["old@example.org"] {
		t.Errorf("requests went to %v; want asked@ and old@", got)
	}
	// Asked again minutes later: the confirmation links are still on their way, so nobody is mailed,
	// the two are counted as rate_limited, and the ledger records no request that was not sent.
	var again struct {
		ID     string `json:"id"`
		Counts struct {
			Queued    int
			SkippedBy map[string]int `json:"skipped_by"`
		} `json:"counts"`
	}
	p.Do("POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "tips", "subject": "May we?", "text": "Again."}, &again)
	p.Do("POST", "/api/v1/campaigns/"+again.ID+"/send", nil, &again)
	if w := p.WaitWalked(again.ID); w.Counts.Messages != 0 || w.Counts.Queued != 0 || w.Counts.SkippedBy["rate_limited"] != 2 {
		t.Errorf("second request campaign counts %+v; want 0 queued, 2 rate_limited", w.Counts)
	}
	var ledger struct {
		Events []struct{ Purpose, State string } `json:"events"`
	}
	p.Do("GET", "/api/v1/contacts/"+ids["old@example.org"]+"/consents", nil, &ledger)
	requested := 0
	for _, e := range ledger.Events {
		if e.Purpose == "tips" && e.State == "dpv:ConsentRequested" {
			requested++
		}
	}
	if requested != 1 {
		t.Errorf("%d ConsentRequested events for old@ after two campaigns; want 1 (one mail sent)", requested)
	}
}

// dkimKey writes a fresh Ed25519 key as PKCS#8 PEM and returns its file and a DNS lookup that
// answers the public key record (RFC 8463) for s1._domainkey.tillit.example.
func dkimKey(t *testing.T) (string, func(string) ([]string, error)) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	return path, func(domain string) ([]string, error) {
		if domain != "s1._domainkey.tillit.example" {
			return nil, fmt.Errorf("no record for %s", domain)
		}
		return []string{record}, nil
	}
}
