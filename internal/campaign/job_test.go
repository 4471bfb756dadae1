package campaign_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// countingSink is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that counts the messages
// each recipient receives and keeps nothing else.
type countingSink struct {
	Addr string
	mu   sync.Mutex
	got  map[string]int
}

type countingSinkSession struct {
	sink *countingSink
	to   []string
}

func (s *countingSinkSession) Reset() { s.to = nil }

func (s *countingSinkSession) Logout() error { return nil }

func (s *countingSinkSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *countingSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *countingSinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	for _, to := range s.to {
		s.sink.got[to]++
	}
	return nil
}

func startCountingSMTP(t *testing.T) *countingSink {
	t.Helper()
	sink := &countingSink{got: map[string]int{}}
	sink.Addr = apptest.ServeSMTP(t, func() smtp.Session { return &countingSinkSession{sink: sink} })
	return sink
}

// received returns how many messages each recipient got so far.
func (s *countingSink) received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.got))
	for k, v := range s.got {
		out[k] = v
	}
	return out
}

// audience imports, before the server starts, subscribers people with newsletter consent
// (sub0@… in contact id order) and without people with no consent (none0@…), and returns the
// subscribers' addresses.
func audience(t *testing.T, dir string, subscribers, without int) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString("Email Address,First Name,OPTIN_TIME,CONFIRM_TIME\n")
	addrs := make([]string, subscribers)
	for i := range subscribers {
		addrs[i] = fmt.Sprintf("sub%d@example.org", i)
		fmt.Fprintf(&b, "%s,Sub%d,2026-01-02 10:00:00,2026-01-02 10:05:00\n", addrs[i], i)
	}
	if rep := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "subscribers.csv", b.String())); rep.Created != subscribers {
		t.Fatalf("import created %d subscribers; want %d", rep.Created, subscribers)
	}
	b.Reset()
	b.WriteString("email,first_name\n")
	for i := range without {
		fmt.Fprintf(&b, "none%d@example.org,None%d\n", i, i)
	}
	apptest.ImportDir(t, dir, map[string]string{"format": "generic"}, apptest.WriteFile(t, "without.csv", b.String()))
	return addrs
}

// refuseThree makes the gate refuse three subscribers for three reasons: one withdraws, one is
// restricted (GDPR Art. 18), one bounced (suppressed). It returns their addresses.
func refuseThree(t *testing.T, p *apptest.Server, addrs []string) map[string]string {
	t.Helper()
	refused := map[string]string{addrs[1]: "withdrawn", addrs[len(addrs)/2]: "restricted", addrs[len(addrs)-2]: "suppressed"}
	for addr, reason := range refused {
		var found struct {
			Items []apptest.Contact `json:"items"`
		}
		if st := p.Do("GET", "/api/v1/contacts?email="+addr, nil, &found); st != 200 || len(found.Items) != 1 {
			t.Fatalf("lookup %s: %d %+v", addr, st, found)
		}
		id := found.Items[0].ID
		switch reason {
		case "withdrawn":
			if st := p.Do("POST", "/api/v1/contacts/"+id+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "web-form"}, nil); st != 201 {
				t.Fatalf("withdraw: %d", st)
			}
		case "restricted":
			if st := p.Do("PUT", "/api/v1/contacts/"+id+"/restriction", nil, nil); st != 200 {
				t.Fatalf("restrict: %d", st)
			}
		case "suppressed":
			dsn := "From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
				"Final-Recipient: rfc822; " + addr + "\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
			req, _ := http.NewRequest("POST", p.Base+"/api/v1/mail-reports", strings.NewReader(dsn))
			req.Header.Set("Content-Type", "message/rfc822")
			req.Header.Set("Authorization", "Bearer "+p.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("bounce report: %v %v", resp, err)
			}
			resp.Body.Close()
		}
	}
	return refused
}

// checkMailedOnce fails unless every subscriber not refused got exactly one message and nobody
// else got any.
func checkMailedOnce(t *testing.T, sink *countingSink, addrs []string, refused map[string]string) {
	t.Helper()
	got := sink.received()
	for _, a := range addrs {
		want := 1
		if refused[a] != "" {
			want = 0
		}
		if got[a] != want {
			t.Errorf("%s received %d messages; want %d", a, got[a], want)
		}
		delete(got, a)
	}
	for a, n := range got {
		t.Errorf("%s, outside the consenting audience, received %d messages", a, n)
	}
}

// checkCounts fails unless the finished campaign's counts are right: every audience member
// walked, the allowed ones mailed, the refused ones counted by reason.
func checkCounts(t *testing.T, c apptest.Campaign, subscribers, without int) {
	t.Helper()
	mailed := subscribers - 3
	if c.Status != "sent" || c.Counts.Walked != subscribers+without || c.Counts.Messages != mailed || c.Counts.Sent != mailed ||
		c.Counts.Queued != 0 || c.Counts.Failed != 0 || c.Counts.Skipped != without+3 ||
		fmt.Sprint(c.Counts.SkippedBy) != fmt.Sprint(map[string]int{"no_consent": without, "restricted": 1, "suppressed": 1, "withdrawn": 1}) {
		t.Errorf("campaign %+v; want sent, %d walked, %d messages sent, skipped no_consent %d, restricted, suppressed, withdrawn 1 each",
			c, subscribers+without, mailed, without)
	}
}

// checkNoSkippedRows fails unless the campaign's outbox holds exactly one row per message: none
// for a person refused when queued (issue 10: 1 M skipped rows for a 1 M audience).
func checkNoSkippedRows(t *testing.T, dir, campaignID string, messages int) {
	t.Helper()
	db, err := store.Open(t.Context(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var byStatus, skipped map[string]int
	err = db.Update(t.Context(), func(tx store.Tx) error {
		byStatus, skipped, err = tx.CampaignOutcomes(t.Context(), campaignID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(byStatus) != fmt.Sprint(map[string]int{"sent": messages}) || len(skipped) != 0 {
		t.Errorf("outbox rows of the campaign by status %v, skipped %v; want %d sent and nothing else", byStatus, skipped, messages)
	}
}

// TestCampaignSendSurvivesHangUp (issue 10, D3): the client hangs up right after the 202; the
// server walks the whole audience all the same (several batches), mails every consenting person
// exactly once, counts the refused ones by reason and writes no outbox row for them.
func TestCampaignSendSurvivesHangUp(t *testing.T) {
	t.Parallel()
	const subscribers, without = 700, 60
	sink := startCountingSMTP(t)
	dir := t.TempDir()
	addrs := audience(t, dir, subscribers, without)
	p := apptest.Serve(t, apptest.Dir(dir), apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none"}))
	refused := refuseThree(t, p, addrs)
	var camp apptest.Campaign
	if st := p.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp); st != 201 || camp.Status != "draft" {
		t.Fatalf("create: %d %+v", st, camp)
	}

	ctx, hangUp := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", p.Base+"/api/v1/campaigns/"+camp.ID+"/send", nil)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hangUp() // right after the status line, before reading the answer
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("send: %d; want 202", resp.StatusCode)
	}

	c := p.WaitCampaign(camp.ID, func(c apptest.Campaign) bool { return c.Status == "sent" && c.Counts.Queued == 0 })
	checkCounts(t, c, subscribers, without)
	checkMailedOnce(t, sink, addrs, refused)
	if st := p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil); st != 409 {
		t.Errorf("second send: %d; want 409", st)
	}
	p.Close()
	checkNoSkippedRows(t, dir, camp.ID, subscribers-3)
}

// TestCampaignResumesAfterRestart (issue 10, D3): the server is stopped while it walks the
// audience and started again; the walk resumes from its stored cursor, and every consenting
// person is mailed exactly once, nobody twice, nobody missed.
func TestCampaignResumesAfterRestart(t *testing.T) {
	t.Parallel()
	const subscribers, without = 3000, 100
	sink := startCountingSMTP(t)
	dir := t.TempDir()
	addrs := audience(t, dir, subscribers, without)
	env := map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none"}
	p := apptest.Serve(t, apptest.Dir(dir), apptest.Env(env))
	refused := refuseThree(t, p, addrs)
	var camp apptest.Campaign
	p.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp)
	if st := p.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, &camp); st != 202 || camp.Status != "sending" {
		t.Fatalf("send: %d %+v; want 202, sending", st, camp)
	}
	// Stop the server in mid-walk: once the first batch (250 people) has committed.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		var c apptest.Campaign
		p.Do("GET", "/api/v1/campaigns/"+camp.ID, nil, &c)
		if c.Counts.Walked > 0 {
			break
		}
	}
	token := p.Token
	p.Close()

	db, err := store.Open(t.Context(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	var walked int
	var cursor string
	err = db.Update(t.Context(), func(tx store.Tx) error {
		c, err := tx.CampaignByID(t.Context(), camp.ID)
		walked, cursor = c.Walk.Walked, c.Walk.Cursor
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if walked == 0 || walked >= subscribers+without {
		t.Fatalf("the server stopped after %d walked; want it stopped in mid-walk", walked)
	}
	t.Logf("stopped after %d of %d walked (cursor %q)", walked, subscribers+without, cursor)

	p = apptest.Serve(t, apptest.Dir(dir), apptest.Env(env))
	p.Token = token
	c := p.WaitCampaign(camp.ID, func(c apptest.Campaign) bool { return c.Status == "sent" && c.Counts.Queued == 0 })
	checkCounts(t, c, subscribers, without)
	checkMailedOnce(t, sink, addrs, refused)
	p.Close()
	checkNoSkippedRows(t, dir, camp.ID, subscribers-3)
}
