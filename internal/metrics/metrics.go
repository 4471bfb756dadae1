package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/mail"
)

// Unmatched is the route label of a request no route took (404, 405, a path refused before
// routing): the path itself is never a label.
const Unmatched = "unmatched"

// Send outcomes (label outcome of tillit_mail_sends_total): what one hand-over attempt of the
// outbox came to.
const (
	SendSent    = "sent"    // handed to the transport
	SendSkipped = "skipped" // the consent gate refused it at hand-over
	SendFailed  = "failed"  // given up: a permanent error or the last retry
	SendRetry   = "retry"   // a temporary error: queued again after the next back-off
)

// Import row outcomes (label outcome of tillit_import_rows_total).
const (
	RowAccepted = "accepted" // taken whole: a contact, consent, suppression or unsubscribe stored, or nothing new needed
	RowRefused  = "refused"  // refused with a reason code; nothing of it stored
)

// Metrics holds one installation's registry and the counters the running code increments.
// Build it with New; the methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	logger   *slog.Logger

	requests  *prometheus.CounterVec   // tillit_http_requests_total{route, code}
	latency   *prometheus.HistogramVec // tillit_http_request_duration_seconds{route}
	sends     *prometheus.CounterVec   // tillit_mail_sends_total{stream, outcome}
	decisions *prometheus.CounterVec   // tillit_consent_gate_decisions_total{reason}
	rows      *prometheus.CounterVec   // tillit_import_rows_total{outcome}
}

// New builds the registry: the Go runtime's and the process's collectors, the counters below,
// and the gauges read from st at every scrape (state.go) on the clock now. logger receives
// the errors of a scrape (a store that could not be read).
func New(st Store, now func() time.Time, logger *slog.Logger) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		logger:   logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillit_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" when no route took it) and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tillit_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by route pattern.",
			Buckets: append(slices.Clone(prometheus.DefBuckets), 30, 120),
		}, []string{"route"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillit_mail_sends_total",
			Help: "Outbox hand-over attempts, by stream (transactional, marketing) and outcome (sent, skipped, failed, retry).",
		}, []string{"stream", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillit_consent_gate_decisions_total",
			Help: "Answers of the consent gate (API consent checks and the outbox's check at hand-over), by reason.",
		}, []string{"reason"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillit_import_rows_total",
			Help: "Import rows committed, by outcome (accepted, refused).",
		}, []string{"outcome"}),
	}
	// Every known label value starts at 0, so a rate has a series before the first event.
	for _, s := range []mail.Stream{mail.Transactional, mail.Marketing} {
		for _, o := range []string{SendSent, SendSkipped, SendFailed, SendRetry} {
			m.sends.WithLabelValues(string(s), o)
		}
	}
	for _, r := range consent.Reasons {
		m.decisions.WithLabelValues(string(r))
	}
	m.rows.WithLabelValues(RowAccepted)
	m.rows.WithLabelValues(RowRefused)
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.sends, m.decisions, m.rows,
		&state{store: st, now: now},
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format. A gauge the store could not
// give is left out and the error logged; the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.logger},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.registry, // promhttp_metric_handler_errors_total
	})
}

// Request counts one answered HTTP request: route is the mux's pattern ("GET
// /api/v1/contacts/{id}"), "" when no route took it (counted as Unmatched); status 0 is an
// answer without a body or status written (200).
func (m *Metrics) Request(route string, status int, elapsed time.Duration) {
	if route == "" {
		route = Unmatched
	}
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(elapsed.Seconds())
}

// Decision counts one answer of the consent gate.
func (m *Metrics) Decision(d consent.Decision) {
	m.decisions.WithLabelValues(string(d.Reason)).Inc()
}

// Sent counts one hand-over attempt recorded by the outbox: e as recorded after it (status
// sent, skipped, failed, or queued again: a retry).
func (m *Metrics) Sent(e mail.Entry) {
	outcome := SendRetry
	switch e.Status {
	case mail.StatusSent:
		outcome = SendSent
	case mail.StatusSkipped:
		outcome = SendSkipped
	case mail.StatusFailed:
		outcome = SendFailed
	}
	m.sends.WithLabelValues(string(e.Stream), outcome).Inc()
}

// ImportRows counts the rows of one committed import batch: accepted and refused.
func (m *Metrics) ImportRows(accepted, refused int) {
	m.rows.WithLabelValues(RowAccepted).Add(float64(accepted))
	m.rows.WithLabelValues(RowRefused).Add(float64(refused))
}

// errorLog is promhttp's error log on a slog.Logger.
type errorLog struct{ logger *slog.Logger }

func (l errorLog) Println(v ...any) {
	if l.logger != nil {
		l.logger.Error("metrics", slog.String("error", fmt.Sprint(v...)))
	}
}
