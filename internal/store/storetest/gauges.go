package storetest

import (
	"maps"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/mail"
)

// testGauges: the reads behind the /metrics gauges, in a read-only transaction. On an empty
// store every count is empty and there is no anchor (NotFound). Then OutboxQueue counts the
// queued messages by stream (sent, failed and skipped ones not) and returns the oldest creation
// time; CountRequests counts requests by state and the open ones whose deadline is before now,
// as dsr.Request.Overdue says (a deadline at now is not overdue; an extension counts, a closed
// request never does); AuditAnchorAt returns the time of the last appended event, whatever the
// times of the events before it.
func testGauges(t *testing.T, s *suite) {
	s.view(t, func(tx Tx) error {
		if q, oldest, err := tx.OutboxQueue(s.ctx); err != nil || len(q) != 0 || !oldest.IsZero() {
			t.Errorf("OutboxQueue on an empty store = %v, %v, %v; want nothing queued", q, oldest, err)
		}
		if n, overdue, err := tx.CountRequests(s.ctx, t1); err != nil || len(n) != 0 || overdue != 0 {
			t.Errorf("CountRequests on an empty store = %v, %d, %v; want none", n, overdue, err)
		}
		_, err := tx.AuditAnchorAt(s.ctx)
		wantKind(t, "AuditAnchorAt on an empty store", err, apperr.NotFound)
		return nil
	})

	now := t1
	extended := request("rq-ext", dsr.TypeAccess, dsr.StateExtended, dsr.ChannelEmail, t0) // due before now, extended past it
	ext := t2
	extended.ExtendedUntil = &ext
	atNow := request("rq-now", dsr.TypeErasure, dsr.StateReceived, dsr.ChannelPortal, t0) // due exactly now: not yet overdue
	atNow.DueAt = now
	requests := []*dsr.Record{
		request("rq-late", dsr.TypeAccess, dsr.StateReceived, dsr.ChannelEmail, t0),     // due a month after t0: overdue
		request("rq-late2", dsr.TypeErasure, dsr.StateInProgress, dsr.ChannelAPI, t0),   // overdue
		request("rq-done", dsr.TypeAccess, dsr.StateCompleted, dsr.ChannelEmail, t0),    // closed: never overdue
		request("rq-no", dsr.TypeErasure, dsr.StateRejected, dsr.ChannelLetter, t0),     // closed
		request("rq-new", dsr.TypeAccess, dsr.StateVerifying, dsr.ChannelPortal, now),   // due a month after now
		request("rq-new2", dsr.TypeAccess, dsr.StateInProgress, dsr.ChannelPortal, now), // due a month after now
		extended, atNow,
	}
	wantStates := map[dsr.State]int{}
	wantOverdue := 0
	for _, r := range requests {
		wantStates[r.State]++
		if r.Overdue(now) {
			wantOverdue++
		}
	}
	if wantOverdue != 2 {
		t.Fatalf("the fixture has %d overdue requests; want 2", wantOverdue)
	}

	old := entry("g-old", "gc-1", "optin_confirm", t0) // the oldest queued
	marketing := entry("g-mkt", "gc-2", "campaign", t1)
	marketing.Stream, marketing.Purpose, marketing.CampaignID = mail.Marketing, "newsletter", "camp-1"
	notice := mail.Entry{ID: "g-notice", RequestID: "rq-late", Stream: mail.Transactional, Kind: "request_notice", Status: mail.StatusQueued,
		NextAttemptAt: t2, CreatedAt: t2, Sealed: []byte("sealed-notice")}
	var done []mail.Entry // older than every queued one, and not counted
	for i, status := range []string{mail.StatusSent, mail.StatusFailed, mail.StatusSkipped} {
		e := entry("g-done-"+status, "gc-1", "campaign", t0.Add(-time.Duration(i+1)*time.Hour))
		e.Status = status
		done = append(done, e)
	}
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("gc-1", "contact", nil, nil), minimalRecord("gc-2", "contact", nil, nil)); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, r := range requests {
			if err := tx.InsertRequest(s.ctx, r); err != nil {
				return err
			}
		}
		for _, e := range append([]mail.Entry{marketing, notice, old}, done...) {
			if err := tx.InsertOutbox(s.ctx, e); err != nil {
				return err
			}
		}
		// The anchor names the last event appended: its time, not the latest time of the log.
		first := auditEvent("contact.create", "gc-1")
		first.At = t2
		last := auditEvent("contact.create", "gc-2")
		last.At = t1
		return tx.AppendAudits(s.ctx, []*audit.Event{first, last})
	})
	s.view(t, func(tx Tx) error {
		q, oldest, err := tx.OutboxQueue(s.ctx)
		if want := map[mail.Stream]int{mail.Transactional: 2, mail.Marketing: 1}; err != nil || !maps.Equal(q, want) {
			t.Errorf("OutboxQueue = %v, %v; want %v", q, err, want)
		}
		checkTime(t, "OutboxQueue oldest", oldest, t0)
		states, overdue, err := tx.CountRequests(s.ctx, now)
		if err != nil || !maps.Equal(states, wantStates) || overdue != wantOverdue {
			t.Errorf("CountRequests = %v, %d overdue, %v; want %v, %d overdue", states, overdue, err, wantStates, wantOverdue)
		}
		// Later, the requests due a month after now are overdue too; the extended one is not yet.
		if _, overdue, err := tx.CountRequests(s.ctx, now.AddDate(0, 1, 1)); err != nil || overdue != wantOverdue+3 {
			t.Errorf("CountRequests a month later: %d overdue, %v; want %d", overdue, err, wantOverdue+3)
		}
		at, err := tx.AuditAnchorAt(s.ctx)
		if err != nil {
			t.Errorf("AuditAnchorAt: %v", err)
		}
		checkTime(t, "AuditAnchorAt", at, t1)
		return nil
	})
	s.update(t, func(tx Tx) error {
		e := auditEvent("contact.update", "gc-1")
		e.At = t2
		return tx.AppendAudit(s.ctx, e)
	})
	s.view(t, func(tx Tx) error {
		at, err := tx.AuditAnchorAt(s.ctx)
		if err != nil {
			t.Errorf("AuditAnchorAt after another append: %v", err)
		}
		checkTime(t, "AuditAnchorAt after another append", at, t2)
		return nil
	})
}
