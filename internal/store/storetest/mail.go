package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/mail"
)

// entry returns a queued outbox entry to contact cid, due at next.
func entry(id, cid, kind string, next time.Time) mail.Entry {
	return mail.Entry{ID: id, ContactID: cid, Stream: mail.Transactional, Kind: kind, Status: mail.StatusQueued,
		NextAttemptAt: next, CreatedAt: next, Sealed: []byte("sealed-message-" + id + "\x00\xff")}
}

// checkEntry compares a stored outbox entry with want: every field, times as instants in UTC.
func checkEntry(t *testing.T, got, want mail.Entry) {
	t.Helper()
	checkTime(t, "entry "+want.ID+" NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt)
	checkTime(t, "entry "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	if (got.SentAt == nil) != (want.SentAt == nil) {
		t.Errorf("entry %s SentAt = %v; want %v", want.ID, got.SentAt, want.SentAt)
	} else if got.SentAt != nil {
		checkTime(t, "entry "+want.ID+" SentAt", *got.SentAt, *want.SentAt)
	}
	got.NextAttemptAt, got.CreatedAt, got.SentAt = want.NextAttemptAt, want.CreatedAt, want.SentAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entry = %+v; want %+v", got, want)
	}
}

func entryIDs(es []mail.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// testOutbox: an entry comes back as queued, every field; DueOutbox returns the queued entries
// due at now, the oldest attempt first, at most limit; UpdateOutbox records an attempt's
// outcome; a missing entry is NotFound.
func testOutbox(t *testing.T, s *suite) {
	marketing := entry("m-3", "ob-1", "campaign", t0)
	marketing.Stream, marketing.Purpose, marketing.CampaignID = mail.Marketing, "newsletter", "camp-1"
	marketing.Attempts, marketing.LastError = 2, "smtp 451"
	notice := mail.Entry{ID: "m-4", RequestID: "req-1", Stream: mail.Transactional, Kind: "request_notice", Status: mail.StatusQueued,
		NextAttemptAt: t1, CreatedAt: t0, Sealed: []byte("sealed-notice"), Last: true}
	later := entry("m-1", "ob-1", "optin_confirm", t2)
	sent := entry("m-2", "ob-2", "optin_confirm", t0)
	sent.Status = mail.StatusSent
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("ob-1", "contact", nil, nil), minimalRecord("ob-2", "contact", nil, nil)); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		if err := tx.InsertRequest(s.ctx, request("req-1", "access", "in_progress", "email", t0)); err != nil {
			return err
		}
		for _, e := range []mail.Entry{later, marketing, notice, sent} {
			if err := tx.InsertOutbox(s.ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		for _, want := range []mail.Entry{marketing, notice, later, sent} {
			got, err := tx.OutboxEntry(s.ctx, want.ID)
			if err != nil {
				return err
			}
			checkEntry(t, got, want)
		}
		_, err := tx.OutboxEntry(s.ctx, "m-none")
		wantKind(t, "OutboxEntry(missing)", err, apperr.NotFound)
		for _, c := range []struct {
			now   time.Time
			limit int
			want  []string
		}{
			{t0.Add(-time.Nanosecond), 10, nil},
			{t0, 10, []string{"m-3"}}, // m-2 is due too, but sent
			{t1, 10, []string{"m-3", "m-4"}},
			{t2, 10, []string{"m-3", "m-4", "m-1"}}, // by next attempt, not by id
			{t2, 2, []string{"m-3", "m-4"}},
		} {
			due, err := tx.DueOutbox(s.ctx, c.now, c.limit)
			if err != nil {
				return err
			}
			if !slices.Equal(entryIDs(due), c.want) {
				t.Errorf("DueOutbox(%s, %d) = %v; want %v", c.now, c.limit, entryIDs(due), c.want)
			}
		}
		due, err := tx.DueOutbox(s.ctx, t0, 10)
		if err == nil && len(due) == 1 {
			checkEntry(t, due[0], marketing)
		}
		return nil
	})
	at := t1
	done := marketing
	done.Status, done.Attempts, done.NextAttemptAt, done.SentAt, done.LastError = mail.StatusSent, 3, t1, &at, ""
	retry := notice
	retry.Attempts, retry.NextAttemptAt, retry.LastError = 1, t1.Add(time.Hour), "smtp 421"
	s.update(t, func(tx Tx) error {
		for _, e := range []mail.Entry{done, retry} {
			if err := tx.UpdateOutbox(s.ctx, e); err != nil {
				return err
			}
		}
		wantKind(t, "UpdateOutbox(missing)", tx.UpdateOutbox(s.ctx, entry("m-none", "ob-1", "x", t0)), apperr.NotFound)
		return nil
	})
	s.view(t, func(tx Tx) error {
		for _, want := range []mail.Entry{done, retry} {
			got, err := tx.OutboxEntry(s.ctx, want.ID)
			if err != nil {
				return err
			}
			checkEntry(t, got, want)
		}
		due, err := tx.DueOutbox(s.ctx, t2, 10)
		if err != nil {
			return err
		}
		if !slices.Equal(entryIDs(due), []string{"m-4", "m-1"}) {
			t.Errorf("DueOutbox(t2) after the updates = %v; want m-4, m-1", entryIDs(due))
		}
		return nil
	})
	testOutboxLease(t, s, done)
}

// testOutboxLease: LeaseOutbox moves the next attempt of queued entries only (a sent one keeps
// its own), for more ids than one statement names (unknown ids ignored); a leased entry is not
// due before the lease ends, and a release makes it due again.
func testOutboxLease(t *testing.T, s *suite, sent mail.Entry) {
	until := t2.Add(time.Hour)
	ids := []string{"m-1"}
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("m-unknown-%d", i))
	}
	ids = append(ids, "m-4", sent.ID)
	s.update(t, func(tx Tx) error { return tx.LeaseOutbox(s.ctx, ids, until) })
	due := func(at time.Time, want ...string) {
		t.Helper()
		s.view(t, func(tx Tx) error {
			got, err := tx.DueOutbox(s.ctx, at, 10)
			if !slices.Equal(entryIDs(got), want) {
				t.Errorf("DueOutbox(%s) with m-1 and m-4 leased until %s = %v; want %v", at, until, entryIDs(got), want)
			}
			return err
		})
	}
	due(t2)
	due(until, "m-1", "m-4") // equal next attempts: by id
	s.view(t, func(tx Tx) error {
		got, err := tx.OutboxEntry(s.ctx, sent.ID)
		if err == nil && !got.NextAttemptAt.Equal(sent.NextAttemptAt) {
			t.Errorf("LeaseOutbox moved the next attempt of a sent entry to %s", got.NextAttemptAt)
		}
		return err
	})
	s.update(t, func(tx Tx) error { return tx.LeaseOutbox(s.ctx, []string{"m-4"}, t1) })
	due(t2, "m-4")
}

// testLastMailAt: the newest queued time of the contact's messages of the kinds asked, zero
// when it has none of them (or no kind is asked).
func testLastMailAt(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("lm-1", "contact", nil, nil), minimalRecord("lm-2", "contact", nil, nil)); err != nil {
			return err
		}
		for _, e := range []mail.Entry{
			entry("lm-a", "lm-1", "optin_confirm", t0),
			entry("lm-b", "lm-1", "optin_confirm", t1),
			entry("lm-c", "lm-1", "consent_request", t2),
			entry("lm-d", "lm-2", "optin_confirm", t2),
		} {
			if err := tx.InsertOutbox(s.ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		for _, c := range []struct {
			contact string
			kinds   []string
			want    time.Time
		}{
			{"lm-1", []string{"optin_confirm"}, t1},
			{"lm-1", []string{"optin_confirm", "consent_request"}, t2},
			{"lm-1", []string{"campaign"}, time.Time{}},
			{"lm-1", nil, time.Time{}},
			{"lm-none", []string{"optin_confirm"}, time.Time{}},
		} {
			got, err := tx.LastMailAt(s.ctx, c.contact, c.kinds...)
			if err != nil {
				return err
			}
			if c.want.IsZero() {
				if !got.IsZero() {
					t.Errorf("LastMailAt(%s, %v) = %s; want zero", c.contact, c.kinds, got)
				}
				continue
			}
			checkTime(t, "LastMailAt("+c.contact+")", got, c.want)
		}
		return nil
	})
}
