package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
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
	"github.com/emersion/go-smtp"
)

// TestCampaignGatedAtHandOff: a three-recipient campaign over real SMTP; while the first message
// is in flight, the third recipient withdraws; the third message is then skipped, not sent.
// Delivered messages carry RFC 8058 headers, a visible unsubscribe link and the postal address.
// One SMTP session (sessions=1), so the messages are handed over one after the other: with N
// sessions, up to N-1 others may be under way (each gated right before its own hand-off).
func TestCampaignGatedAtHandOff(t *testing.T) {
	sink := startSMTP(t)
	sink.hold, sink.held = make(chan struct{}), make(chan struct{})
	keyFile, lookup := dkimKey(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{
		"TILLIT_DKIM_DOMAIN": "tillit.example", "TILLIT_DKIM_SELECTOR": "s1", "TILLIT_DKIM_KEY_FILE": keyFile,
		"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none&sessions=1", "TILLIT_MAIL_FROM": "news@tillit.example",
		"TILLIT_CONTROLLER_NAME": "Norrsken AB", "TILLIT_CONTROLLER_STREET": "Storgatan 1", "TILLIT_CONTROLLER_CITY": "Umeå",
		"TILLIT_UNSUBSCRIBE_MAILTO": "unsubscribe@tillit.example",
	})
	var ids []string
	for _, e := range []string{"first@example.org", "O'Brien+news&x=1%2/y@example.org", "third@example.org", "never.agreed@example.org"} {
		var c contactJSON
		p.do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		ids = append(ids, c.ID)
		if !strings.HasPrefix(e, "never") {
			p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
		}
	}
	var camp struct {
		ID     string `json:"id"`
		Counts struct {
			Queued, Sent, Skipped int
			SkippedBy             map[string]int `json:"skipped_by"`
		} `json:"counts"`
	}
	if st := p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "Spring news", "text": "Hello from Norrsken.", "html": "<p>Hello from Norrsken.</p>"}, &camp); st != 201 {
		t.Fatalf("create campaign: %d", st)
	}
	if st := p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil); st != 202 {
		t.Fatalf("send: %d; want 202", st)
	}
	<-sink.held // the first message is in the SMTP server's hands
	if w := p.waitWalked(camp.ID); w.Counts.Messages != 3 || w.Counts.SkippedBy["no_consent"] != 1 || w.Counts.Walked != 4 {
		t.Fatalf("walk: %+v; want 4 walked, 3 messages queued and the one without consent skipped", w.Counts)
	}
	if st := p.do("POST", "/api/v1/contacts/"+ids[2]+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "one-click-unsubscribe"}, nil); st != 201 {
		t.Fatalf("withdraw: %d", st)
	}
	close(sink.hold)
	first, second := sink.next(t), sink.next(t)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.do("GET", "/api/v1/campaigns/"+camp.ID, nil, &camp)
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
	case extra := <-sink.msgs:
		t.Errorf("a message to %v was delivered after the withdrawal", extra.To)
	default:
	}
	// DKIM (RFC 6376) verifies, and covers both unsubscribe headers (RFC 8058 §4).
	for _, d := range []delivered{first, second} {
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
	msg, text := parseMessage(t, second)
	lu := msg.Header.Get("List-Unsubscribe")
	if !strings.Contains(lu, "/u/") || !strings.Contains(lu, "mailto:unsubscribe@tillit.example") || msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("headers List-Unsubscribe %q, List-Unsubscribe-Post %q", lu, msg.Header.Get("List-Unsubscribe-Post"))
	}
	if !strings.Contains(text, "Unsubscribe with one click: "+p.base+"/u/") || !strings.Contains(text, "Choose which mail you receive: "+p.base+"/p/preferences/") || !strings.Contains(text, "Norrsken AB, Storgatan 1, Umeå") || strings.Contains(lu, "brien") {
		t.Errorf("body %q; want a visible unsubscribe link and the postal address, no address in the link", text)
	}
	// Every link of the message works for an address full of URL-special characters, and a
	// scanner's GET changes nothing.
	link := regexp.MustCompile(`https?://\S+/u/[A-Za-z0-9_-]+`).FindString(text)
	gate := func() string {
		var d struct {
			Reason string `json:"reason"`
		}
		p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": ids[1], "purpose": "newsletter"}, &d)
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
	sink := startSMTP(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none"})
	if st := p.do("POST", "/api/v1/purposes", map[string]any{"id": "tips", "name": "Tips", "lawful_basis": "dpv:Consent", "consent_valid_days": 365}, nil); st != 201 {
		t.Fatal("purpose")
	}
	state := map[string]string{"none@example.org": "", "old@example.org": "given-2y", "asked@example.org": "dpv:ConsentRequested", "no@example.org": "dpv:ConsentWithdrawn", "yes@example.org": "dpv:ConsentGiven"}
	ids := map[string]string{}
	for _, e := range []string{"none@example.org", "old@example.org", "asked@example.org", "no@example.org", "yes@example.org"} {
		var c contactJSON
		p.do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		ids[e] = c.ID
		switch st := state[e]; st {
		case "":
		case "given-2y":
			p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "tips", "state": "dpv:ConsentGiven", "method": "web-form", "occurred_at": time.Now().AddDate(-2, 0, 0).UTC().Format(time.RFC3339)}, nil)
		default:
			p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "tips", "state": st, "method": "web-form"}, nil)
		}
	}
	var camp struct {
		ID     string `json:"id"`
		Counts struct {
			Queued, Sent, Skipped int
			SkippedBy             map[string]int `json:"skipped_by"`
		} `json:"counts"`
	}
	if st := p.do("POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "tips", "subject": "May we?", "text": "We would like to send you tips now and then."}, &camp); st != 201 {
		t.Fatalf("create: %d", st)
	}
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, &camp)
	if w := p.waitWalked(camp.ID); w.Counts.Messages != 2 || w.Counts.SkippedBy["withdrawn"] != 1 || w.Counts.SkippedBy["consent_given"] != 1 || w.Counts.SkippedBy["no_consent_history"] != 1 {
		t.Fatalf("counts %+v; want 2 requests queued, the withdrawn, the consenting and the never asked left alone", w.Counts)
	}
	got := map[string]bool{}
	for range 2 {
		d := sink.next(t)
		got[d.To[0]] = true
		msg, text := parseMessage(t, d)
		if !linkRE.MatchString(text) {
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
	p.do("POST", "/api/v1/campaigns", map[string]any{"kind": "consent_request", "purpose": "tips", "subject": "May we?", "text": "Again."}, &again)
	p.do("POST", "/api/v1/campaigns/"+again.ID+"/send", nil, &again)
	if w := p.waitWalked(again.ID); w.Counts.Messages != 0 || w.Counts.Queued != 0 || w.Counts.SkippedBy["rate_limited"] != 2 {
		t.Errorf("second request campaign counts %+v; want 0 queued, 2 rate_limited", w.Counts)
	}
	var ledger struct {
		Events []struct{ Purpose, State string } `json:"events"`
	}
	p.do("GET", "/api/v1/contacts/"+ids["old@example.org"]+"/consents", nil, &ledger)
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

// TestBounceAndComplaintSuppress: a hard bounce (RFC 3464) and an abuse complaint (RFC 5965)
// posted to /api/v1/mail-reports put their addresses on the suppression list.
func TestBounceAndComplaintSuppress(t *testing.T) {
	p := startProgram(t, t.TempDir())
	ids := map[string]string{}
	for _, e := range []string{"gone.away@example.org", "annoyed@example.org", "busy@example.org"} {
		var c contactJSON
		p.do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		ids[e] = c.ID
		p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	}
	const dsn = "From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; Gone.Away@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; busy@example.org\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n--b--\r\n"
	const arf = "From: abuse@mailbox.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=c\r\n\r\n" +
		"--c\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n--c\r\nContent-Type: message/rfc822\r\n\r\nTo: <ANNOYED@example.org>\r\nSubject: news\r\n\r\nhi\r\n--c--\r\n"
	for _, tc := range []struct {
		body, kind string
	}{{dsn, "bounce"}, {arf, "complaint"}} {
		req, _ := http.NewRequest("POST", p.base+"/api/v1/mail-reports", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Kind       string `json:"kind"`
			Suppressed int    `json:"suppressed"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || out.Kind != tc.kind || out.Suppressed != 1 {
			t.Errorf("%s report: %d %+v; want 200, one address suppressed", tc.kind, resp.StatusCode, out)
		}
	}
	for e, want := range map[string]string{"gone.away@example.org": "suppressed", "annoyed@example.org": "suppressed", "busy@example.org": "consent_given"} {
		var d struct {
			Reason string `json:"reason"`
		}
		p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": ids[e], "purpose": "newsletter"}, &d)
		if d.Reason != want {
			t.Errorf("%s: gate %s; want %s", e, d.Reason, want)
		}
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

// TestRefusedMessageFailsOnce: a 550 5.1.1 answered to a message's data is permanent (RFC 5321
// §4.2.1): the message fails at once and is not retried, the other recipient still gets theirs,
// and the log and the counts give the reply code but never the refused address.
func TestRefusedMessageFailsOnce(t *testing.T) {
	sink := startSMTP(t)
	sink.refuse = func(to []string) error {
		if len(to) == 1 && to[0] == "no.such.user@example.org" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<no.such.user@example.org>: no such user"}
		}
		return nil
	}
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none"})
	for _, e := range []string{"no.such.user@example.org", "reader@example.org"} {
		var c contactJSON
		p.do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	}
	var camp struct {
		ID     string                             `json:"id"`
		Counts struct{ Queued, Sent, Failed int } `json:"counts"`
	}
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, &camp)
	if d := sink.next(t); d.To[0] != "reader@example.org" {
		t.Fatalf("delivered to %v; want reader@", d.To)
	}
	for deadline := time.Now().Add(60 * time.Second); camp.Counts.Sent+camp.Counts.Failed < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.do("GET", "/api/v1/campaigns/"+camp.ID, nil, &camp)
	}
	if camp.Counts.Sent != 1 || camp.Counts.Failed != 1 || camp.Counts.Queued != 0 {
		t.Errorf("counts %+v; want 1 sent, 1 failed at once, none waiting for a retry", camp.Counts)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, "permanent failure: SMTP 550 5.1.1 at end of data") || strings.Contains(logs, "no.such.user") {
		t.Errorf("log %s; want the reply code and stage, without the address", logs)
	}
	// Mailing over SMTP with an http:// base URL and no postal address is warned about at start.
	if !strings.Contains(logs, "unsubscribe links are not HTTPS") || !strings.Contains(logs, "marketing mail carries no postal address") {
		t.Errorf("log %s; want warnings about the http:// links and the missing postal address", logs)
	}
}

// TestRedactedComplaintFindsRecipient: mailbox providers redact the recipient of a complaint
// (RFC 6590) but quote the Message-ID; the message we sent names the real recipient, who is
// suppressed. A Message-ID that is not ours names nobody.
func TestRedactedComplaintFindsRecipient(t *testing.T) {
	sink := startSMTP(t)
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"})
	var c contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "complainer@example.org"}, &c)
	p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	var camp struct {
		ID string `json:"id"`
	}
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, &camp)
	msg, _ := parseMessage(t, sink.next(t))
	mid := msg.Header.Get("Message-Id")
	_, domain, ok := strings.Cut(mid, "@")
	if !ok {
		t.Fatalf("Message-ID %q", mid)
	}
	report := func(messageID string) int {
		t.Helper()
		body := "From: abuse@mailbox.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=c\r\n\r\n" +
			"--c\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n--c\r\nContent-Type: text/rfc822-headers\r\n\r\n" +
			"From: news@tillit.example\r\nTo: redacted@mailbox.example\r\nMessage-ID: " + messageID + "\r\nSubject: News\r\n\r\n--c--\r\n"
		req, _ := http.NewRequest("POST", p.base+"/api/v1/mail-reports", strings.NewReader(body))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	gate := func() string {
		var d struct {
			Reason string `json:"reason"`
		}
		p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
		return d.Reason
	}
	if st := report("<0190f000-0000-7000-8000-000000000000@" + domain); st != 200 || gate() != "consent_given" {
		t.Fatalf("a complaint about a message we never sent: %d, gate %s; want nobody suppressed", st, gate())
	}
	if st := report(mid); st != 200 || gate() != "suppressed" {
		t.Errorf("redacted complaint quoting our Message-ID: %d, gate %s; want the real recipient suppressed", st, gate())
	}
}
