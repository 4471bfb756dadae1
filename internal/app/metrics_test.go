package app_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/token"
)

// TestMetricsAfterAPIActivity scrapes GET /metrics after contacts, consent checks (refused and
// allowed, by id and by address), data subject requests, an import with a refused row and
// requests whose paths hold an address, on an App whose clock the test moves and whose outbox
// the test runs: every counter and gauge has the value the activity gives, and no e-mail
// address, name, id, token or request detail of the activity is anywhere in the exposition
// (route patterns, never paths).
func TestMetricsAfterAPIActivity(t *testing.T) {
	t0 := time.Now().UTC().Truncate(time.Second)
	var offset atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(offset.Load())) }
	a := apptest.New(t, func(c *app.Config) { c.Now = now })
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "token-create"})
	_, secret, err := a.Tokens.Create(ctx, token.RoleAdmin, "metrics test")
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewUnstartedServer(a.HTTP.Handler())
	api.Config.BaseContext = func(net.Listener) context.Context {
		return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic})
	}
	api.Start()
	t.Cleanup(api.Close)
	scraper := httptest.NewServer(a.Metrics.Handler())
	t.Cleanup(scraper.Close)
	p := apptest.NewClient(t, api.URL, secret)

	const (
		ada, bo, cy = "Ada.Metrics@Example.org", "bo.metrics@example.org", "cy.imported@example.org"
		details     = "Ada says: reference 4711-secret"
	)
	needles := []string{"ada.metrics", "Ada.Metrics", "bo.metrics", "cy.imported", "example.org", "Adelheid", "Bodil", "4711-secret", secret}
	var ca, cb apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": ada, "first_name": "Adelheid"}, &ca); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": bo, "first_name": "Bodil"}, &cb); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+cb.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	for _, c := range []struct {
		who    map[string]string
		reason string
	}{
		{map[string]string{"contact_id": ca.ID}, "no_consent"},
		{map[string]string{"email": ada}, "no_consent"},
		{map[string]string{"contact_id": cb.ID}, "consent_given"},
	} {
		if _, reason := p.Check(c.who, "newsletter"); reason != c.reason {
			t.Fatalf("consent check %v: %s; want %s", c.who, reason, c.reason)
		}
	}
	var verifying, letter apptest.Request
	if st := p.Do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "email", "email": ada, "details": details, "verify_by_email": true}, &verifying); st != 201 || verifying.State != "verifying" {
		t.Fatalf("request: %d, state %q", st, verifying.State)
	}
	if st := p.Do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "letter", "email": bo}, &letter); st != 201 || letter.State != "received" {
		t.Fatalf("request: %d, state %q", st, letter.State)
	}
	var rep apptest.ImportReport
	if st := p.ImportCSV("format=mailchimp&status=subscribed", "Email Address\n"+cy+"\nnot-an-address\n", &rep); st != 200 || rep.Created != 1 || rep.Refused != 1 {
		t.Fatalf("import: %d, %+v", st, rep)
	}
	// Paths that hold an address: a route's pattern takes one, no route the other.
	var list apptest.List
	if st := p.Do("GET", "/api/v1/contacts?email="+bo, nil, &list); st != 200 {
		t.Fatalf("list by address: %d", st)
	}
	if st := p.Do("GET", "/api/v1/contacts/"+ada, nil, nil); st != 404 {
		t.Fatalf("contact by address: %d; want 404", st)
	}
	if st := p.Do("GET", "/nowhere/"+bo, nil, nil); st != 404 {
		t.Fatalf("no route: %d; want 404", st)
	}
	needles = append(needles, ca.ID, cb.ID, verifying.ID, letter.ID)

	// An hour later, before the outbox ran: the verification mail is queued since t0.
	offset.Store(int64(time.Hour))
	m := apptest.Scrape(t, scraper.URL)
	want(t, m, 2, "tillit_http_requests_total", "route", "POST /api/v1/contacts", "code", "201")
	want(t, m, 3, "tillit_http_requests_total", "route", "POST /api/v1/consent-checks", "code", "200")
	want(t, m, 3, "tillit_http_request_duration_seconds_count", "route", "POST /api/v1/consent-checks")
	want(t, m, 2, "tillit_http_requests_total", "route", "POST /api/v1/requests", "code", "201")
	want(t, m, 1, "tillit_http_requests_total", "route", "POST /api/v1/imports", "code", "200")
	want(t, m, 1, "tillit_http_requests_total", "route", "GET /api/v1/contacts", "code", "200")
	want(t, m, 1, "tillit_http_requests_total", "route", "GET /api/v1/contacts/{id}", "code", "404")
	want(t, m, 1, "tillit_http_requests_total", "route", "unmatched", "code", "404")
	want(t, m, 2, "tillit_consent_gate_decisions_total", "reason", "no_consent")
	want(t, m, 1, "tillit_consent_gate_decisions_total", "reason", "consent_given")
	want(t, m, 0, "tillit_consent_gate_decisions_total", "reason", "withdrawn")
	want(t, m, 1, "tillit_import_rows_total", "outcome", "accepted")
	want(t, m, 1, "tillit_import_rows_total", "outcome", "refused")
	want(t, m, 1, "tillit_outbox_queued_messages", "stream", "transactional")
	want(t, m, 0, "tillit_outbox_queued_messages", "stream", "marketing")
	want(t, m, 3600, "tillit_outbox_oldest_queued_age_seconds")
	want(t, m, 0, "tillit_mail_sends_total", "stream", "transactional", "outcome", "sent")
	want(t, m, 1, "tillit_dsr_requests", "state", "verifying")
	want(t, m, 1, "tillit_dsr_requests", "state", "received")
	want(t, m, 0, "tillit_dsr_requests", "state", "completed")
	want(t, m, 0, "tillit_dsr_requests_overdue")
	want(t, m, 3600, "tillit_audit_anchor_age_seconds") // the last event was at t0
	scrapes := []apptest.Exposition{m}

	// The outbox hands the mail over (an audited read, now), and 40 days later both requests
	// are past their month.
	if sent, failed, err := a.Outbox.SendDue(context.Background(), 100); err != nil || sent != 1 || failed != 0 {
		t.Fatalf("SendDue = %d sent, %d failed, %v; want 1 sent", sent, failed, err)
	}
	offset.Store(int64(40 * 24 * time.Hour))
	m = apptest.Scrape(t, scraper.URL)
	want(t, m, 1, "tillit_mail_sends_total", "stream", "transactional", "outcome", "sent")
	want(t, m, 0, "tillit_mail_sends_total", "stream", "marketing", "outcome", "skipped")
	want(t, m, 0, "tillit_outbox_queued_messages", "stream", "transactional")
	want(t, m, 0, "tillit_outbox_oldest_queued_age_seconds")
	want(t, m, 2, "tillit_dsr_requests_overdue")
	want(t, m, (40*24*time.Hour - time.Hour).Seconds(), "tillit_audit_anchor_age_seconds")
	scrapes = append(scrapes, m)

	for _, m := range scrapes {
		for _, n := range needles {
			if strings.Contains(strings.ToLower(m.Text), strings.ToLower(n)) {
				t.Errorf("the exposition holds %q from the requests:\n%s", n, m.Text)
			}
		}
		for _, v := range m.LabelValues() {
			if strings.Contains(v, "@") {
				t.Errorf("label value %q holds an @", v)
			}
		}
	}
}

// want fails t unless the exposition's series name with labels has value v.
func want(t *testing.T, m apptest.Exposition, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := m.Value(name, labels...)
	if !ok {
		t.Errorf("%s%v: absent; want %g", name, labels, v)
	} else if got != v {
		t.Errorf("%s%v = %g; want %g", name, labels, got, v)
	}
}
