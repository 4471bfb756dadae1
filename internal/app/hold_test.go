package app_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestLegalHoldAndOpenRequestsStopDirectErasure: found by fresh-user trials. A contact under
// legal hold (Art. 17(3)(e)) was erased by an erasure request without a word, and a direct
// DELETE while the person's verified erasure request was open closed that request with no
// receipt and no notice to the person.
func TestLegalHoldAndOpenRequestsStopDirectErasure(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	var c struct{ ID string }
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "bo.held@example.org"}, &c)
	if st := p.Do("PUT", "/api/v1/contacts/"+c.ID+"/legal-hold", nil, nil); st != 204 && st != 200 {
		t.Fatalf("hold: %d", st)
	}
	var prob apptest.Problem
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, &prob); st != 409 || prob.Reason != "legal_hold" {
		t.Errorf("DELETE under legal hold: %d %+v; want 409 legal_hold", st, prob)
	}
	var r apptest.Request
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "email", "email": "bo.held@example.org"}, &r)
	if st := p.Do("POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "reply from the address on file"}, nil); st != 200 {
		t.Fatalf("verify: %d", st)
	}
	if st := p.Do("POST", "/api/v1/requests/"+r.ID+"/complete", nil, &prob); st != 409 || prob.Reason != "legal_hold" {
		t.Errorf("erasure request under legal hold: %d %+v; want 409 legal_hold", st, prob)
	}
	if st := p.Do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 200 {
		t.Errorf("the held contact after the refused erasures: %d; want 200", st)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID+"/legal-hold", nil, nil); st != 204 && st != 200 {
		t.Fatalf("lift hold: %d", st)
	}
	// The person's erasure request is open: a direct DELETE points to it.
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, &prob); st != 409 || prob.Reason != "open_erasure_request" || prob.ID != r.ID {
		t.Errorf("DELETE with an open erasure request: %d %+v; want 409 open_erasure_request naming %s", st, prob, r.ID)
	}
	var done apptest.Request
	if st := p.Do("POST", "/api/v1/requests/"+r.ID+"/complete", nil, &done); st != 200 || done.State != "completed" {
		t.Fatalf("complete after the hold was lifted: %d %+v", st, done)
	}
	if st := p.Do("GET", "/api/v1/requests/"+r.ID+"/receipt", nil, nil); st != 200 {
		t.Errorf("receipt: %d; want 200", st)
	}
	if st := p.Do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 404 {
		t.Errorf("contact after the erasure: %d; want 404", st)
	}
}

// TestErasureTellsOfTheRequestsItCloses: found by a second trial. A person's open access request
// was closed silently when their data was erased, by DELETE or by their erasure request, and the
// queue showed it completed though nothing was sent. A DELETE now waits for the open request to
// be answered; an erasure request's receipt names the requests it closes.
func TestErasureTellsOfTheRequestsItCloses(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	var c struct{ ID string }
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "ylva.open@example.org"}, &c)
	var access, erasure apptest.Request
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "letter", "email": "ylva.open@example.org"}, &access)
	p.Do("POST", "/api/v1/requests/"+access.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "signed letter"}, nil)
	var prob apptest.Problem
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, &prob); st != 409 || prob.Reason != "open_request" || prob.ID != access.ID {
		t.Errorf("DELETE with an open access request: %d %+v; want 409 open_request naming it", st, prob)
	}
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "letter", "email": "ylva.open@example.org"}, &erasure)
	p.Do("POST", "/api/v1/requests/"+erasure.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "signed letter"}, nil)
	if st := p.Do("POST", "/api/v1/requests/"+erasure.ID+"/complete", nil, nil); st != 200 {
		t.Fatalf("complete erasure: %d", st)
	}
	var receipt struct {
		Closed []struct{ ID, Type string } `json:"closed_requests"`
	}
	p.Do("GET", "/api/v1/requests/"+erasure.ID+"/receipt", nil, &receipt)
	if len(receipt.Closed) != 1 || receipt.Closed[0].ID != access.ID || receipt.Closed[0].Type != "access" {
		t.Errorf("receipt closed_requests = %+v; want the access request", receipt.Closed)
	}
	_, text := apptest.ParseMessage(t, sink.Next(t))
	if !strings.Contains(text, "Your personal data is erased") || !strings.Contains(text, "is closed with this erasure") {
		t.Errorf("receipt mail does not name the closed request:\n%s", text)
	}
}
