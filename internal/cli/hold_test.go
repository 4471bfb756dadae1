package cli_test

import "testing"

// TestLegalHoldAndOpenRequestsStopDirectErasure: found by fresh-user trials. A contact under
// legal hold (Art. 17(3)(e)) was erased by an erasure request without a word, and a direct
// DELETE while the person's verified erasure request was open closed that request with no
// receipt and no notice to the person.
func TestLegalHoldAndOpenRequestsStopDirectErasure(t *testing.T) {
	p := startProgram(t, t.TempDir())
	var c struct{ ID string }
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "bo.held@example.org"}, &c)
	if st := p.do("PUT", "/api/v1/contacts/"+c.ID+"/legal-hold", nil, nil); st != 204 && st != 200 {
		t.Fatalf("hold: %d", st)
	}
	var prob problemJSON
	if st := p.do("DELETE", "/api/v1/contacts/"+c.ID, nil, &prob); st != 409 || prob.Reason != "legal_hold" {
		t.Errorf("DELETE under legal hold: %d %+v; want 409 legal_hold", st, prob)
	}
	var r requestJSON
	p.do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "email", "email": "bo.held@example.org"}, &r)
	if st := p.do("POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "reply from the address on file"}, nil); st != 200 {
		t.Fatalf("verify: %d", st)
	}
	if st := p.do("POST", "/api/v1/requests/"+r.ID+"/complete", nil, &prob); st != 409 || prob.Reason != "legal_hold" {
		t.Errorf("erasure request under legal hold: %d %+v; want 409 legal_hold", st, prob)
	}
	if st := p.do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 200 {
		t.Errorf("the held contact after the refused erasures: %d; want 200", st)
	}
	if st := p.do("DELETE", "/api/v1/contacts/"+c.ID+"/legal-hold", nil, nil); st != 204 && st != 200 {
		t.Fatalf("lift hold: %d", st)
	}
	// The person's erasure request is open: a direct DELETE points to it.
	if st := p.do("DELETE", "/api/v1/contacts/"+c.ID, nil, &prob); st != 409 || prob.Reason != "open_erasure_request" || prob.ID != r.ID {
		t.Errorf("DELETE with an open erasure request: %d %+v; want 409 open_erasure_request naming %s", st, prob, r.ID)
	}
	var done requestJSON
	if st := p.do("POST", "/api/v1/requests/"+r.ID+"/complete", nil, &done); st != 200 || done.State != "completed" {
		t.Fatalf("complete after the hold was lifted: %d %+v", st, done)
	}
	if st := p.do("GET", "/api/v1/requests/"+r.ID+"/receipt", nil, nil); st != 200 {
		t.Errorf("receipt: %d; want 200", st)
	}
	if st := p.do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 404 {
		t.Errorf("contact after the erasure: %d; want 404", st)
	}
}
