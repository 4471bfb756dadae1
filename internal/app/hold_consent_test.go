package app_test

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestNoConsentIsRecordedWhileARequestHolds (review of issue 11): from the verification of a
// person's erasure request until it is completed or rejected, consent that would widen
// processing is not recorded, by staff (403 erasure_requested) or by an import (the row counted
// restricted), as for a restricted contact. Before, only a restriction stopped it: consent given
// during the hold stood over the person's "erase me" once the request was rejected.
func TestNoConsentIsRecordedWhileARequestHolds(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	const addr = "hedda.holm@example.org"
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Hedda"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st, _ := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"erasure"}, "email": {addr}}); st != 200 {
		t.Fatalf("erasure intake: %d", st)
	}
	_, text := apptest.ParseMessage(t, sink.Next(t))
	v, _ := url.Parse(apptest.VerifyLink.FindString(text))
	if st, _ := apptest.PostForm(t, p.Base, v.Path, nil); st != 200 {
		t.Fatalf("verify: %d", st)
	}

	give := map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", give, &prob); st != 403 || prob.Reason != "erasure_requested" {
		t.Errorf("staff consent while the erasure request is open: %d %+v; want 403 erasure_requested", st, prob)
	}
	csv := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(csv, []byte("Email Address,First Name,OPTIN_TIME\n"+addr+",Hedda,2026-01-02 03:04:05\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := apptest.Import(t, p.App, map[string]string{"format": "mailchimp", "purpose": "newsletter"}, csv)
	if rep.Restricted != 1 || rep.ConsentsRecorded != 0 {
		t.Errorf("import while the erasure request is open: restricted %d, consents %d; want the row held (1, 0)", rep.Restricted, rep.ConsentsRecorded)
	}

	var queue struct{ Items []apptest.Request }
	p.Do("GET", "/api/v1/requests?type=erasure&state=in_progress", nil, &queue)
	if len(queue.Items) != 1 {
		t.Fatalf("erasure queue: %+v", queue.Items)
	}
	if st := p.Do("POST", "/api/v1/requests/"+queue.Items[0].ID+"/reject", map[string]any{"reason": "The data is needed for an open invoice."}, nil); st != 200 {
		t.Fatalf("reject: %d", st)
	}
	var d struct{ Reason string }
	if p.Do("POST", "/api/v1/consent-checks", map[string]any{"contact_id": c.ID, "purpose": "newsletter"}, &d); d.Reason != "no_consent" {
		t.Errorf("gate after the rejection: %q; want no_consent (nothing given during the hold stands)", d.Reason)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", give, nil); st != 201 {
		t.Errorf("staff consent after the rejection: %d; want 201", st)
	}
}
