package throttle_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/throttle"
)

// TestWindowsCountOncePerCluster: two Windows on one store (two nodes) count a client's posts
// together; the post beyond max is refused with the time to the window's end, rounded up to a
// second, and not counted; another form and another client count apart; a new window starts
// when the old has passed; the store keeps a keyed hash, not the address.
func TestWindowsCountOncePerCluster(t *testing.T) {
	a := apptest.New(t)
	ctx := context.Background()
	key := func(c string) ([]byte, error) { return a.Keys.BlindIndex(keys.IndexClient, 1, c) }
	nodeA := &throttle.Windows{Store: store.Throttle(a.Store), Key: key}
	nodeB := &throttle.Windows{Store: store.Throttle(a.Store), Key: key}
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	post := func(w *throttle.Windows, form, client string, at time.Time) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := w.Allow(ctx, form, client, 3, time.Hour, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}
	for i, w := range []*throttle.Windows{nodeA, nodeB, nodeA} {
		if ok, _ := post(w, "subscribe", "198.51.100.7", t0.Add(time.Duration(i)*time.Minute)); !ok {
			t.Fatalf("post %d refused; want the first three allowed", i+1)
		}
	}
	if ok, wait := post(nodeB, "subscribe", "198.51.100.7", t0.Add(30*time.Minute+500*time.Millisecond)); ok || wait != 30*time.Minute {
		t.Errorf("fourth post on the other node: %v, retry after %v; want refused, 30m0s", ok, wait)
	}
	if ok, _ := post(nodeB, "requests", "198.51.100.7", t0.Add(31*time.Minute)); !ok {
		t.Error("a post to another form was refused")
	}
	if ok, _ := post(nodeB, "subscribe", "198.51.100.8", t0.Add(31*time.Minute)); !ok {
		t.Error("another client's post was refused")
	}
	if ok, _ := post(nodeA, "subscribe", "198.51.100.7", t0.Add(time.Hour)); !ok {
		t.Error("a post when the window has passed was refused")
	}
	h, _ := key("198.51.100.7")
	err := a.Store.View(ctx, func(tx store.Tx) error {
		start, posts, err := tx.RateWindow(ctx, "subscribe", h)
		if err != nil || posts != 1 || !start.Equal(t0.Add(time.Hour)) {
			t.Errorf("window after the new hour: %v %d %v; want one post from %v", start, posts, err, t0.Add(time.Hour))
		}
		if bytes.Contains(h, []byte("198.51")) {
			t.Error("the window's client is the address itself")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
