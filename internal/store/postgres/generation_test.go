package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
)

// openPair opens two stores on one new schema, as two nodes would.
func openPair(t *testing.T) (*DB, *DB) {
	t.Helper()
	a, schema := openFresh(t, "tg_", Config{})
	return a, openSchemaNode(t, schema, Config{})
}

// TestGenerationHearsOtherNodes: a commit on one node moves the other node's generation by its
// notification (not only by the TTL), so its caches drop what the commit changed; a read-only
// transaction notifies no one.
func TestGenerationHearsOtherNodes(t *testing.T) {
	a, b := openPair(t)
	ctx := context.Background()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s", what)
			}
		}
	}
	waitFor("b's listener connects", b.listening.Load)
	before := b.gen.Load()
	err := a.Update(ctx, func(tx store.Tx) error {
		return tx.InsertPurpose(ctx, consent.Purpose{ID: "newsletter", Name: "Newsletter", LawfulBasis: consent.BasisConsent, CreatedAt: time.Now().UTC()})
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor("b hears a's commit", func() bool { return b.gen.Load() > before })

	time.Sleep(200 * time.Millisecond) // let anything else in flight arrive
	quiet := b.gen.Load()
	if err := a.View(ctx, func(tx store.Tx) error { _, err := tx.PurposeByID(ctx, "newsletter"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, func(tx store.Tx) error { _, err := tx.PurposeByID(ctx, "newsletter"); return err }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := b.gen.Load(); got != quiet {
		t.Errorf("b's generation moved %d times for a's reads; want 0: only a commit that wrote notifies", got-quiet)
	}
	g1, _ := b.Generation(ctx)
	time.Sleep(GenerationTTL + 100*time.Millisecond)
	if g2, _ := b.Generation(ctx); g2 <= g1 {
		t.Errorf("generation %d after the TTL, %d before; want it moved: no cache outlives GenerationTTL", g2, g1)
	}
}
