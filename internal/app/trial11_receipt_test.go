package app_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestReceiptDoesNotKeepDisclosuresThatNeverHappened (trial of issue 11, item 6): a recipient
// asked for a person's data and was refused (the person had not consented). After the person's
// erasure, the receipt rightly says that no company received their data, and in the same text
// lists among what is kept "which company received which kinds of your data, for what and when",
// for the one refused request: a page must not say something that did not happen.
func TestReceiptDoesNotKeepDisclosuresThatNeverHappened(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": "never.shared@example.org", "first_name": "Nea"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("POST", "/api/v1/processors", map[string]any{"id": "crm", "name": "CRM AB", "purposes": []string{"newsletter"}, "data_categories": []string{"email"},
		"country": "SE", "dpa_status": "signed", "dpa_signed_at": "2026-01-01T00:00:00Z"}, nil); st != 201 {
		t.Fatalf("processor: %d", st)
	}
	if st := p.Do("POST", "/api/v1/disclosures", map[string]any{"contact_id": c.ID, "processor_id": "crm", "purpose": "newsletter", "fields": []string{"email"}}, nil); st != 403 {
		t.Fatalf("disclosure without consent: %d; want 403", st)
	}
	var r struct{ ID string }
	if st := p.Do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "email", "email": "never.shared@example.org"}, &r); st != 201 {
		t.Fatalf("request: %d", st)
	}
	if st := p.Do("POST", "/api/v1/requests/"+r.ID+"/verify", map[string]any{"contact_id": c.ID, "note": "Signed letter."}, nil); st != 200 {
		t.Fatalf("verify: %d", st)
	}
	if st := p.Do("POST", "/api/v1/requests/"+r.ID+"/complete", map[string]any{}, nil); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	var rc receiptJSON
	if st := p.Do("GET", "/api/v1/requests/"+r.ID+"/receipt", nil, &rc); st != 200 {
		t.Fatalf("receipt: %d", st)
	}
	if len(rc.Recipients) != 0 || !strings.Contains(rc.Text, "No other company received your data") {
		t.Fatalf("receipt recipients %+v, text %q; want none", rc.Recipients, rc.Text)
	}
	if strings.Contains(rc.Text, "which company received which kinds of your data") {
		t.Errorf("the receipt says no company received the data, and keeps \"which company received which kinds of your data\" (a refused disclosure):\n%s", rc.Text)
	}
	// The refused request is erased with the person (it sent nothing, so no one is to be told,
	// GDPR Art. 19; the audit log keeps the refusal, Art. 5(2)), and the receipt says so.
	erased, kept, _ := strings.Cut(rc.Text, "What we keep, and why:")
	if refused := "our record of the requests for your data that we refused"; !strings.Contains(erased, refused) || strings.Contains(kept, refused) {
		t.Errorf("the receipt does not list %q among what was erased:\n%s", refused, rc.Text)
	}
}
