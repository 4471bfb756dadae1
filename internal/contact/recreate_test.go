package contact_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestRecreatingAnErasedAddress: staff could create a contact again for an address erased at the
// person's request without any warning. It is now 409 (reason erased) unless recreate_erased=true,
// and even then the address stays suppressed for mail until the person's own double opt-in.
func TestRecreatingAnErasedAddress(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	const addr = "Gone.Person@Example.ORG"
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Gone"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil); st != 200 && st != 204 {
		t.Fatalf("erase: %d", st)
	}
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": "gone.person@example.org"}, &prob); st != 409 || prob.Reason != "erased" || prob.Field != "email" {
		t.Fatalf("create again: %d %+v; want 409 erased on email", st, prob)
	}
	if strings.Contains(strings.ToLower(prob.Detail), "gone.person") {
		t.Errorf("problem detail names the address: %q", prob.Detail)
	}
	if st := p.Do("POST", "/api/v1/contacts?recreate_erased=yes", map[string]any{"email": addr}, &prob); st != 400 || prob.Field != "recreate_erased" {
		t.Errorf("recreate_erased=yes: %d %+v; want 400 naming recreate_erased", st, prob)
	}
	// Another address is not affected.
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": "other@example.org"}, nil); st != 201 {
		t.Errorf("other address: %d; want 201", st)
	}
	// Found by a second trial: an agent alone could bring an erased person back.
	agentOut := p.Mint("agent", "agent", "")
	if st := p.DoAs(strings.TrimSpace(agentOut), "POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": addr}, &prob); st != 403 || prob.Field != "recreate_erased" {
		t.Errorf("agent with recreate_erased=true: %d %+v; want 403", st, prob)
	}
	var again apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": addr}, &again); st != 201 || again.ID == "" || again.ID == c.ID {
		t.Fatalf("recreate_erased=true: %d %+v; want 201 with a new id", st, again)
	}
	// The address has a contact again: a second create is the usual duplicate, naming it.
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr}, &prob); st != 409 || prob.Reason != "duplicate_email" || prob.ID != again.ID {
		t.Errorf("create while the recreated contact holds the address: %d %+v; want duplicate_email naming %s", st, prob, again.ID)
	}
	// Found by a second trial: PATCH put an erased address back on another contact unchecked.
	var other, gone2 apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "someone.else@example.org"}, &other)
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "gone.two@example.org"}, &gone2)
	p.Do("DELETE", "/api/v1/contacts/"+gone2.ID, nil, nil)
	if st := p.Do("PATCH", "/api/v1/contacts/"+other.ID, map[string]any{"email": "Gone.Two@example.org", "first_name": "Back"}, &prob); st != 409 || prob.Reason != "erased" {
		t.Errorf("PATCH to an erased address: %d %+v; want 409 erased", st, prob)
	}
	if st := p.Do("PATCH", "/api/v1/contacts/"+other.ID, map[string]any{"first_name": "Still"}, nil); st != 200 {
		t.Errorf("PATCH of another field: %d; want 200", st)
	}
	if st := p.Do("PATCH", "/api/v1/contacts/"+other.ID+"?recreate_erased=true", map[string]any{"email": "gone.two@example.org"}, nil); st != 200 {
		t.Errorf("PATCH to an erased address with recreate_erased=true: %d; want 200", st)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if st := p.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": again.ID, "purpose": "newsletter"}, &d); st != 200 || d.Allowed || d.Reason != "suppressed" {
		t.Errorf("gate for the recreated contact: %d %+v; want refused, suppressed", st, d)
	}
}

// TestErasureWinsOverAnEarlierSuppression (issue 11, items 1 and 2): erasing a person whose
// address was already on the suppression list (a hard bounce, a complaint, a cleaned row of an
// import) kept the old reason, so staff re-creating the address were not told it was erased
// (201 instead of 409 erased) and the re-created person's access bundle said the address bounced.
// Erasure is now the reason that wins, as of the erasure's time; an unsubscribe (by the link or an
// imported row), which is no address-wide entry, behaves the same.
func TestErasureWinsOverAnEarlierSuppression(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	report := func(body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", p.Base+"/api/v1/mail-reports", strings.NewReader(body))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+p.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("mail report: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	const dsn = "From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; bounced.gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
	const arf = "From: abuse@mailbox.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=c\r\n\r\n" +
		"--c\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n--c\r\nContent-Type: message/rfc822\r\n\r\nTo: <complained.gone@example.org>\r\nSubject: news\r\n\r\nhi\r\n--c--\r\n"
	steps := map[string]func(id string){
		"bounced.gone@example.org":    func(string) { report(dsn) },
		"complained.gone@example.org": func(string) { report(arf) },
		"cleaned.gone@example.org": func(string) {
			var rep apptest.ImportReport
			if st := p.ImportCSV("format=mailchimp&status=cleaned", "Email Address\ncleaned.gone@example.org\n", &rep); st != 200 || rep.SuppressionsAdded != 1 {
				t.Fatalf("cleaned import: %d %+v", st, rep)
			}
		},
		"unsub.gone@example.org": func(string) {
			var rep apptest.ImportReport
			if st := p.ImportCSV("format=mailchimp&status=unsubscribed", "Email Address,UNSUB_TIME\nunsub.gone@example.org,2025-01-01 00:00:00\n", &rep); st != 200 || rep.Withdrawals != 1 {
				t.Fatalf("unsubscribed import: %d %+v", st, rep)
			}
		},
	}
	for addr, before := range steps {
		var c apptest.Contact
		if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr}, &c); st != 201 {
			t.Fatalf("create %s: %d", addr, st)
		}
		p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "occurred_at": "2024-01-01T00:00:00Z"}, nil)
		before(c.ID)
		if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil); st != 204 {
			t.Fatalf("erase %s: %d", addr, st)
		}
		var prob apptest.Problem
		if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr}, &prob); st != 409 || prob.Reason != "erased" {
			t.Errorf("create %s again after its erasure: %d %+v; want 409 erased", strings.SplitN(addr, "@", 2)[0], st, prob)
			continue
		}
		var again apptest.Contact
		if st := p.Do("POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": addr}, &again); st != 201 {
			t.Fatalf("recreate %s: %d", addr, st)
		}
		if sup := bundleSuppression(t, p, again.ID); !sup.Suppressed || sup.Reason != "erased" {
			t.Errorf("%s's access bundle after the re-creation: %+v; want suppressed, reason erased", addr, sup)
		}
	}
}

// bundleSuppression reads suppression.json of the contact's access bundle.
func bundleSuppression(t *testing.T, p *apptest.Server, id string) (sup struct {
	Suppressed bool   `json:"suppressed"`
	Reason     string `json:"reason"`
}) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.Base+"/api/v1/contacts/"+id+"/export", nil)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	_, files := apptest.Unzip(t, body)
	if err := json.Unmarshal(files["suppression.json"], &sup); err != nil {
		t.Fatal(err)
	}
	return sup
}
