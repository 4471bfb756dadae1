package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// testConsoleSessions: a sign-in is found by its hash with its token's hash and expiry (as a
// time, to the nanosecond), deleted alone, and the expired ones (at or before now) go together.
func testConsoleSessions(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		for i, exp := range []time.Time{t0, t1, t2} {
			if err := tx.InsertConsoleSession(s.ctx, []byte{byte('a' + i)}, []byte{byte('A' + i)}, exp); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		th, exp, err := tx.ConsoleSession(s.ctx, []byte("b"))
		if err != nil || !bytes.Equal(th, []byte("B")) {
			t.Errorf("ConsoleSession(b) = %q, %v; want token hash B", th, err)
		}
		checkTime(t, "session b expires", exp, t1)
		_, _, err = tx.ConsoleSession(s.ctx, []byte("x"))
		wantKind(t, "ConsoleSession(unknown)", err, apperr.NotFound)
		return nil
	})
	s.update(t, func(tx Tx) error {
		if n, err := tx.DeleteExpiredConsoleSessions(s.ctx, t1); err != nil || n != 2 {
			t.Errorf("DeleteExpiredConsoleSessions(t1) = %d, %v; want 2 (expired before and at t1)", n, err)
		}
		if err := tx.DeleteConsoleSession(s.ctx, []byte("c")); err != nil {
			return err
		}
		for _, h := range []string{"a", "b", "c"} {
			_, _, err := tx.ConsoleSession(s.ctx, []byte(h))
			wantKind(t, "ConsoleSession("+h+") after the deletes", err, apperr.NotFound)
		}
		return nil
	})
}

// testRateWindows: a client's window per form is put, replaced and read back; another form or
// client is its own; windows that started before a time are forgotten.
func testRateWindows(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		_, _, err := tx.RateWindow(s.ctx, "subscribe", []byte("c1"))
		wantKind(t, "RateWindow(none)", err, apperr.NotFound)
		if err := tx.PutRateWindow(s.ctx, "subscribe", []byte("c1"), t0, 1); err != nil {
			return err
		}
		if err := tx.PutRateWindow(s.ctx, "subscribe", []byte("c1"), t0, 2); err != nil {
			return err
		}
		if err := tx.PutRateWindow(s.ctx, "requests", []byte("c1"), t2, 7); err != nil {
			return err
		}
		return tx.PutRateWindow(s.ctx, "subscribe", []byte("c2"), t1, 1)
	})
	s.update(t, func(tx Tx) error {
		start, posts, err := tx.RateWindow(s.ctx, "subscribe", []byte("c1"))
		if err != nil || posts != 2 {
			t.Errorf("RateWindow(subscribe, c1) = %d, %v; want 2 posts (replaced)", posts, err)
		}
		checkTime(t, "window start", start, t0)
		if _, posts, err := tx.RateWindow(s.ctx, "requests", []byte("c1")); err != nil || posts != 7 {
			t.Errorf("RateWindow(requests, c1) = %d, %v; want 7", posts, err)
		}
		if n, err := tx.DeleteRateWindowsBefore(s.ctx, t1); err != nil || n != 1 {
			t.Errorf("DeleteRateWindowsBefore(t1) = %d, %v; want 1 (started at t0)", n, err)
		}
		_, _, err = tx.RateWindow(s.ctx, "subscribe", []byte("c1"))
		wantKind(t, "RateWindow after it was forgotten", err, apperr.NotFound)
		if _, posts, err := tx.RateWindow(s.ctx, "subscribe", []byte("c2")); err != nil || posts != 1 {
			t.Errorf("RateWindow(subscribe, c2) = %d, %v; want 1, kept (started at t1)", posts, err)
		}
		return nil
	})
}
