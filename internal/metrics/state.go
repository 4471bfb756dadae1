package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/mail"
)

// Tx is what the gauges read, in one read-only transaction (store.GaugeTx).
type Tx interface {
	// OutboxQueue counts the queued messages by stream and returns the oldest's creation time
	// (zero when none is queued).
	OutboxQueue(ctx context.Context) (map[mail.Stream]int, time.Time, error)
	// CountRequests counts the data subject requests by state, and the open ones past their
	// deadline at now.
	CountRequests(ctx context.Context, now time.Time) (map[dsr.State]int, int, error)
	// AuditAnchorAt returns the time of the event the audit anchor names; NotFound when none.
	AuditAnchorAt(ctx context.Context) (time.Time, error)
}

// Store runs read-only transactions that never wait for the writer.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
}

// ReadTimeout bounds a scrape's read of the store (Prometheus's own scrape timeout is 10 s by
// default).
const ReadTimeout = 5 * time.Second

var (
	outboxQueued = prometheus.NewDesc("tillit_outbox_queued_messages",
		"Messages waiting in the outbox (queued, not yet handed over or retrying), by stream.", []string{"stream"}, nil)
	outboxAge = prometheus.NewDesc("tillit_outbox_oldest_queued_age_seconds",
		"Seconds since the oldest queued outbox message was queued; 0 when none is.", nil, nil)
	requestsByState = prometheus.NewDesc("tillit_dsr_requests",
		"Data subject requests, by state.", []string{"state"}, nil)
	requestsOverdue = prometheus.NewDesc("tillit_dsr_requests_overdue",
		"Open data subject requests past their deadline (due_at, or extended_until when extended; GDPR Art. 12(3)).", nil, nil)
	anchorAge = prometheus.NewDesc("tillit_audit_anchor_age_seconds",
		"Seconds since the audit anchor was last written (the time of the last audit event appended); absent before the first event.", nil, nil)
)

// state is the collector of the gauges: it reads the store at every scrape.
type state struct {
	store Store
	now   func() time.Time
}

func (s *state) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{outboxQueued, outboxAge, requestsByState, requestsOverdue, anchorAge} {
		ch <- d
	}
}

// Collect reads everything in one read transaction, then reports it; when the read fails, no
// gauge is reported and the scrape's error names the store's.
func (s *state) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ReadTimeout)
	defer cancel()
	now := s.now()
	var (
		queued   map[mail.Stream]int
		oldest   time.Time
		states   map[dsr.State]int
		overdue  int
		anchorAt time.Time
		anchored bool
	)
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if queued, oldest, err = tx.OutboxQueue(ctx); err != nil {
			return err
		}
		if states, overdue, err = tx.CountRequests(ctx, now); err != nil {
			return err
		}
		anchorAt, err = tx.AuditAnchorAt(ctx)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		anchored = err == nil
		return err
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxQueued, err)
		return
	}
	for _, st := range []mail.Stream{mail.Transactional, mail.Marketing} {
		ch <- prometheus.MustNewConstMetric(outboxQueued, prometheus.GaugeValue, float64(queued[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(outboxAge, prometheus.GaugeValue, age(now, oldest))
	for _, st := range dsr.States {
		ch <- prometheus.MustNewConstMetric(requestsByState, prometheus.GaugeValue, float64(states[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(requestsOverdue, prometheus.GaugeValue, float64(overdue))
	if anchored {
		ch <- prometheus.MustNewConstMetric(anchorAge, prometheus.GaugeValue, age(now, anchorAt))
	}
}

// age is the seconds from t to now: 0 for a zero t, and never below 0 (a clock of another node
// of a cluster a little ahead).
func age(now, t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return max(0, now.Sub(t).Seconds())
}
