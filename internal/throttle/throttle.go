// Package throttle counts the posts of each client to a public form in fixed windows kept in the
// store, so that every node of a cluster counts the same posts (a client's limit holds whichever
// node takes its posts). A client is kept only as a keyed hash of its address, forgotten when its
// window has passed. One process alone uses the portal's in-memory Limiter instead.
package throttle

import (
	"context"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// Tx is what counting needs from a store transaction.
type Tx interface {
	// RateWindow returns the start of the client's window on form and its posts; NotFound when
	// none is kept.
	RateWindow(ctx context.Context, form string, client []byte) (time.Time, int, error)
	PutRateWindow(ctx context.Context, form string, client []byte, start time.Time, posts int) error
	// DeleteRateWindowsBefore forgets every window that started before before.
	DeleteRateWindowsBefore(ctx context.Context, before time.Time) (int, error)
}

// Store runs serialized transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Windows counts posts in the store.
type Windows struct {
	Store Store
	// Key hashes a client's address (as the portal counts it: IPv4, or the /64 of IPv6) with a
	// key of the installation, so the store holds no address.
	Key func(client string) ([]byte, error)
}

// Allow records a post from client to form at now and reports whether it is within max for the
// client's window of length window; when it is not, retryAfter is the time until the window
// ends, rounded up to a second, and the post is not counted. Windows that have passed are
// forgotten on the way.
func (w *Windows) Allow(ctx context.Context, form, client string, max int, window time.Duration, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	key, err := w.Key(client)
	if err != nil {
		return false, 0, err
	}
	err = w.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.DeleteRateWindowsBefore(ctx, now.Add(-window)); err != nil {
			return err
		}
		start, posts, err := tx.RateWindow(ctx, form, key)
		switch {
		case apperr.Is(err, apperr.NotFound) || err == nil && !now.Before(start.Add(window)):
			start, posts = now, 0
		case err != nil:
			return err
		}
		if posts >= max {
			ok, retryAfter = false, (start.Add(window).Sub(now) + time.Second - 1).Truncate(time.Second)
			return nil
		}
		ok = true
		return tx.PutRateWindow(ctx, form, key, start, posts+1)
	})
	return ok, retryAfter, err
}
