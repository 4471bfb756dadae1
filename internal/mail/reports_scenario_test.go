package mail_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestBounceAndComplaintSuppress: a hard bounce (RFC 3464) and an abuse complaint (RFC 5965)
// posted to /api/v1/mail-reports put their addresses on the suppression list.
func TestBounceAndComplaintSuppress(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	ids := map[string]string{}
	for _, e := range []string{"gone.away@example.org", "annoyed@example.org", "busy@example.org"} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		ids[e] = c.ID
		p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	}
	const dsn = "From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; Gone.Away@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; busy@example.org\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n--b--\r\n"
	const arf = "From: abuse@mailbox.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=c\r\n\r\n" +
		"--c\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n--c\r\nContent-Type: message/rfc822\r\n\r\nTo: <ANNOYED@example.org>\r\nSubject: news\r\n\r\nhi\r\n--c--\r\n"
	for _, tc := range []struct {
		body, kind string
	}{{dsn, "bounce"}, {arf, "complaint"}} {
		req, _ := http.NewRequest("POST", p.Base+"/api/v1/mail-reports", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+p.Token)
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
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": ids[e], "purpose": "newsletter"}, &d)
		if d.Reason != want {
			t.Errorf("%s: gate %s; want %s", e, d.Reason, want)
		}
	}
}

// TestRefusedMessageFailsOnce: a 550 5.1.1 answered to a message's data is permanent (RFC 5321
// §4.2.1): the message fails at once and is not retried, the other recipient still gets theirs,
// and the log and the counts give the reply code but never the refused address.
func TestRefusedMessageFailsOnce(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	sink.Refuse = func(to []string) error {
		if len(to) == 1 && to[0] == "no.such.user@example.org" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<no.such.user@example.org>: no such user"}
		}
		return nil
	}
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none"}))
	for _, e := range []string{"no.such.user@example.org", "reader@example.org"} {
		var c apptest.Contact
		p.Do("POST", "/api/v1/contacts", map[string]any{"email": e}, &c)
		p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	}
	var camp struct {
		ID     string                             `json:"id"`
		Counts struct{ Queued, Sent, Failed int } `json:"counts"`
	}
	p.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp)
	p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, &camp)
	if d := sink.Next(t); d.To[0] != "reader@example.org" {
		t.Fatalf("delivered to %v; want reader@", d.To)
	}
	for deadline := time.Now().Add(60 * time.Second); camp.Counts.Sent+camp.Counts.Failed < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.Do("GET", "/api/v1/campaigns/"+camp.ID, nil, &camp)
	}
	if camp.Counts.Sent != 1 || camp.Counts.Failed != 1 || camp.Counts.Queued != 0 {
		t.Errorf("counts %+v; want 1 sent, 1 failed at once, none waiting for a retry", camp.Counts)
	}
	logs := p.Logs.String()
	if !strings.Contains(logs, "permanent failure: SMTP 550 5.1.1 at end of data") || strings.Contains(logs, "no.such.user") {
		t.Errorf("log %s; want the reply code and stage, without the address", logs)
	}
	// The warnings tillit serve gives at start for SMTP with an http:// base URL and no postal
	// address: TestServeWarnsOfSMTPGaps in internal/cli.
}

// TestRedactedComplaintFindsRecipient: mailbox providers redact the recipient of a complaint
// (RFC 6590) but quote the Message-ID; the message we sent names the real recipient, who is
// suppressed. A Message-ID that is not ours names nobody.
func TestRedactedComplaintFindsRecipient(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"}))
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "complainer@example.org"}, &c)
	p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
	var camp struct {
		ID string `json:"id"`
	}
	p.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp)
	p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, &camp)
	msg, _ := apptest.ParseMessage(t, sink.Next(t))
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
		req, _ := http.NewRequest("POST", p.Base+"/api/v1/mail-reports", strings.NewReader(body))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+p.Token)
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
		p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": c.ID, "purpose": "newsletter"}, &d)
		return d.Reason
	}
	if st := report("<0190f000-0000-7000-8000-000000000000@" + domain); st != 200 || gate() != "consent_given" {
		t.Fatalf("a complaint about a message we never sent: %d, gate %s; want nobody suppressed", st, gate())
	}
	if st := report(mid); st != 200 || gate() != "suppressed" {
		t.Errorf("redacted complaint quoting our Message-ID: %d, gate %s; want the real recipient suppressed", st, gate())
	}
}
