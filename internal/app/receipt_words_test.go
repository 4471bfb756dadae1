package app_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestErasureReceiptWordsForSentMail: found by a fresh-user trial (issue 11). The erasure
// receipt listed the outbox rows of a person whose confirmation mail had been delivered as
// "messages to you that were not sent yet". The words must be true of sent and unsent mail.
func TestErasureReceiptWordsForSentMail(t *testing.T) {
	t.Parallel()
	r := apptest.NewSignups(t)
	const addr = "sent.once@example.org"
	r.Subscribe(addr)
	r.Confirmation("sign-up", r.Mailed(addr)) // delivered
	id := r.Lookup(addr)
	var req apptest.Request
	if st := r.P.Do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "letter", "email": addr}, &req); st != 201 {
		t.Fatalf("erasure request: %d", st)
	}
	if st := r.P.Do("POST", "/api/v1/requests/"+req.ID+"/verify", map[string]any{"contact_id": id, "note": "Signed letter."}, nil); st != 200 {
		t.Fatalf("verify: %d", st)
	}
	if st := r.P.Do("POST", "/api/v1/requests/"+req.ID+"/complete", nil, nil); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	var rc receiptJSON
	r.P.Do("GET", "/api/v1/requests/"+req.ID+"/receipt", nil, &rc)
	found := false
	for _, e := range rc.Erased {
		if e.Table != "outbox" {
			continue
		}
		found = true
		if strings.Contains(e.What, "not sent") || !strings.Contains(e.What, "sent you") {
			t.Errorf("receipt says of the delivered mail %q; want words true of sent mail", e.What)
		}
	}
	if !found || strings.Contains(rc.Text, "not sent yet") {
		t.Errorf("receipt: outbox listed %v, text:\n%s", found, rc.Text)
	}
}
