package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// TestVacuumFullDoesNotStallTheCluster: the rewrite of the key tables after an erasure (VACUUM
// FULL, an ACCESS EXCLUSIVE lock) must not queue behind a long reader such as a running pg_dump
// (which holds ACCESS SHARE on every table it dumps, for the whole dump, and which the README
// recommends for backups). A lock request that waits is queued, and every later request on the
// table, even ACCESS SHARE, queues behind it: every node's decrypting read and every write then
// waited for the dump to end. The rewrite now gives up its lock wait after rewriteLockTimeout
// and is done at the next vacuum (Vacuum reports it not done).
//
// The test holds a reader like pg_dump's (its statement done, its transaction open), rewrites,
// which must come back not done, reads a data key, and after the reader ends, rewrites again.
func TestVacuumFullDoesNotStallTheCluster(t *testing.T) {
	ctx := context.Background()
	db, schema := openFresh(t, "tq_", Config{DataVacuumDelay: time.Hour, VacuumCheckInterval: time.Hour})
	if err := db.Update(ctx, func(tx store.Tx) error {
		return tx.InsertDataKey(ctx, "c1", 1, []byte("wrapped"), time.Now().UTC())
	}); err != nil {
		t.Fatal(err)
	}
	admin := pgtest.Open(t)
	dump, err := admin.BeginTx(ctx, nil) // a backup in progress
	if err != nil {
		t.Fatal(err)
	}
	defer dump.Rollback()
	var n int
	if err := dump.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(schema+"_keys")+".contact_keys").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// The rewrite itself (Vacuum also skips it while a transaction older than the erasure is
	// open, which this one is not: its statement is done and it holds no snapshot).
	if done, err := db.rewriteKeyTables(ctx); err != nil || done {
		t.Fatalf("rewrite while a reader holds the key table = %v, %v; want it left for later (false) and no error", done, err)
	}
	if err := db.View(ctx, func(tx store.Tx) error { _, _, err := tx.DataKey(ctx, "c1"); return err }); err != nil {
		t.Fatalf("read of a data key after the rewrite gave up: %v", err)
	}
	if err := dump.Rollback(); err != nil {
		t.Fatal(err)
	}
	if done, err := db.rewriteKeyTables(ctx); err != nil || !done {
		t.Fatalf("rewrite after the reader ended = %v, %v; want done", done, err)
	}
}
