package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/sqlstore"
)

// TestGoneReachesEveryNode: each node writes mail files under its own data directory, so every
// node must hear which contacts another node erased and which requests it forgot (found by a
// two-node trial: an erasure on one node left the person's message file on the other). A
// commit that deletes a contact or destroys a request's key names them to every node (Gone,
// TakeGone); one that rolls back or makes nothing gone names none; one that makes too many gone
// to name, and a listener's (re)connection, say All.
func TestGoneReachesEveryNode(t *testing.T) {
	a, b := openPair(t)
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); !b.listening.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b's listener did not connect")
		}
	}
	if g := b.TakeGone(); !g.All {
		t.Errorf("TakeGone after the listener connected = %+v; want All (it may have missed commits)", g)
	}
	update := func(fn func(tx *sqlstore.Tx) error) error {
		return a.Update(ctx, func(tx store.Tx) error { return fn(tx.(*sqlstore.Tx)) })
	}
	insert := func(tx *sqlstore.Tx, ids ...string) error {
		for _, id := range ids {
			if _, err := tx.Exec(ctx, "INSERT INTO contacts (id, kind, key_version, created_at, updated_at, version) VALUES (?, 'contact', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 1)", id); err != nil {
				return err
			}
		}
		return nil
	}
	select {
	case <-b.Gone(): // the connection's signal
	default:
	}
	// take waits for b to hear of a's commits, then takes what it heard.
	take := func(what string) store.Gone {
		t.Helper()
		select {
		case <-b.Gone():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: b heard of nothing gone", what)
		}
		return b.TakeGone()
	}
	if err := update(func(tx *sqlstore.Tx) error { return insert(tx, "c-1", "c-2", "c-kept") }); err != nil {
		t.Fatal(err)
	}
	errUndo := errors.New("undo")
	if err := update(func(tx *sqlstore.Tx) error {
		if err := tx.DeleteContact(ctx, "c-kept"); err != nil {
			return err
		}
		return errUndo
	}); !errors.Is(err, errUndo) {
		t.Fatal(err)
	}
	if err := update(func(tx *sqlstore.Tx) error {
		if err := tx.DeleteContact(ctx, "c-1"); err != nil {
			return err
		}
		if err := tx.DeleteContact(ctx, "c-2"); err != nil {
			return err
		}
		return tx.ForgetRequest(ctx, "r-1")
	}); err != nil {
		t.Fatal(err)
	}
	g := take("two erasures and a forgotten request")
	slices.Sort(g.Contacts)
	if g.All || !slices.Equal(g.Contacts, []string{"c-1", "c-2"}) || !slices.Equal(g.Requests, []string{"r-1"}) {
		t.Errorf("TakeGone = %+v; want contacts c-1, c-2 and request r-1 (not c-kept: its deletion rolled back)", g)
	}
	// Many at once: more ids than a notification holds (MaxGonePayload).
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("0190a0a0-0000-7000-8000-%012d", i))
	}
	if err := update(func(tx *sqlstore.Tx) error { return insert(tx, many...) }); err != nil {
		t.Fatal(err)
	}
	if err := update(func(tx *sqlstore.Tx) error {
		for _, id := range many {
			if err := tx.DeleteContact(ctx, id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if g := take("300 erasures in one commit"); !g.All {
		t.Errorf("TakeGone after 300 erasures in one commit = %d contacts, all %v; want All", len(g.Contacts), g.All)
	}
	if err := update(func(tx *sqlstore.Tx) error { return insert(tx, "c-3") }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the commit's notification arrives
	if g := b.TakeGone(); !g.Empty() {
		t.Errorf("TakeGone after commits that made nothing gone = %d contacts, %d requests, all %v; want nothing", len(g.Contacts), len(g.Requests), g.All)
	}
}
