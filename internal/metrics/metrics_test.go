package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/metrics"
)

// fakeStore answers the gauges' reads from its fields, or fails every View with err; views
// counts the transactions.
type fakeStore struct {
	err      error
	views    int
	queued   map[mail.Stream]int
	oldest   time.Time
	states   map[dsr.State]int
	overdue  int
	anchorAt time.Time // zero: no anchor (NotFound)
}

func (f *fakeStore) View(ctx context.Context, fn func(metrics.Tx) error) error {
	f.views++
	if f.err != nil {
		return f.err
	}
	return fn(f)
}

func (f *fakeStore) OutboxQueue(context.Context) (map[mail.Stream]int, time.Time, error) {
	return f.queued, f.oldest, nil
}

func (f *fakeStore) CountRequests(context.Context, time.Time) (map[dsr.State]int, int, error) {
	return f.states, f.overdue, nil
}

func (f *fakeStore) AuditAnchorAt(context.Context) (time.Time, error) {
	if f.anchorAt.IsZero() {
		return time.Time{}, apperr.New(apperr.NotFound, "no audit anchor")
	}
	return f.anchorAt, nil
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestGaugesAndCounters: one scrape reads the store in one transaction; each gauge and counter
// shows in the exposition with its value, every known label value at 0 before its first event;
// a request no route took counts as "unmatched" and a status never written as 200; the anchor's
// age is absent while there is no anchor.
func TestGaugesAndCounters(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	st := &fakeStore{queued: map[mail.Stream]int{mail.Marketing: 7}, oldest: now.Add(-90 * time.Second),
		states: map[dsr.State]int{dsr.StateVerifying: 2, dsr.StateCompleted: 5}, overdue: 1}
	m := metrics.New(st, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	m.Request("GET /api/v1/contacts/{id}", 200, 30*time.Millisecond)
	m.Request("", 404, time.Millisecond)
	m.Request("GET /healthz", 0, time.Millisecond)
	m.Decision(consent.Decision{Reason: consent.ReasonWithdrawn})
	m.Sent(mail.Entry{Stream: mail.Marketing, Status: mail.StatusSkipped})
	m.Sent(mail.Entry{Stream: mail.Transactional, Status: mail.StatusQueued}) // queued again: a retry
	m.ImportRows(998, 2)
	text := scrape(t, m)
	if st.views != 1 {
		t.Errorf("one scrape ran %d store transactions; want 1", st.views)
	}
	for _, line := range []string{
		`tillit_http_requests_total{code="200",route="GET /api/v1/contacts/{id}"} 1`,
		`tillit_http_requests_total{code="404",route="unmatched"} 1`,
		`tillit_http_requests_total{code="200",route="GET /healthz"} 1`,
		`tillit_http_request_duration_seconds_bucket{route="GET /api/v1/contacts/{id}",le="0.025"} 0`,
		`tillit_http_request_duration_seconds_bucket{route="GET /api/v1/contacts/{id}",le="0.05"} 1`,
		`tillit_consent_gate_decisions_total{reason="withdrawn"} 1`,
		`tillit_consent_gate_decisions_total{reason="basis_contract"} 0`,
		`tillit_mail_sends_total{outcome="skipped",stream="marketing"} 1`,
		`tillit_mail_sends_total{outcome="retry",stream="transactional"} 1`,
		`tillit_mail_sends_total{outcome="sent",stream="marketing"} 0`,
		`tillit_import_rows_total{outcome="accepted"} 998`,
		`tillit_import_rows_total{outcome="refused"} 2`,
		`tillit_outbox_queued_messages{stream="marketing"} 7`,
		`tillit_outbox_queued_messages{stream="transactional"} 0`,
		`tillit_outbox_oldest_queued_age_seconds 90`,
		`tillit_dsr_requests{state="verifying"} 2`,
		`tillit_dsr_requests{state="completed"} 5`,
		`tillit_dsr_requests{state="received"} 0`,
		`tillit_dsr_requests_overdue 1`,
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("the exposition lacks %s", line)
		}
	}
	if strings.Contains(text, "tillit_audit_anchor_age_seconds") {
		t.Errorf("the anchor's age is reported without an anchor")
	}
	st.anchorAt = now.Add(-time.Hour)
	if text := scrape(t, m); !strings.Contains(text, "\ntillit_audit_anchor_age_seconds 3600\n") {
		t.Errorf("the exposition lacks tillit_audit_anchor_age_seconds 3600")
	}
}

// TestStoreFailureKeepsTheCounters: when the store cannot be read, the scrape still answers
// 200 with the counters, leaves the gauges out and logs the error.
func TestStoreFailureKeepsTheCounters(t *testing.T) {
	var logs bytes.Buffer
	m := metrics.New(&fakeStore{err: errors.New("store: database is locked")}, time.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	m.ImportRows(3, 0)
	text := scrape(t, m)
	if !strings.Contains(text, "\ntillit_import_rows_total{outcome=\"accepted\"} 3\n") {
		t.Errorf("the counters are missing after a store failure:\n%s", text)
	}
	for _, gauge := range []string{"tillit_outbox_queued_messages", "tillit_dsr_requests", "tillit_audit_anchor_age_seconds"} {
		if strings.Contains(text, "\n"+gauge) {
			t.Errorf("%s reported although the store failed", gauge)
		}
	}
	if !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("the store's error is not logged: %q", logs.String())
	}
}
