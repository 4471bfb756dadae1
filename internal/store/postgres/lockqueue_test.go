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
// waits for the dump to end. Vacuum gives up waiting for older transactions after maxWait and
// runs VACUUM FULL anyway, so any erasure during a backup stalls the cluster.
//
// The test holds a reader like pg_dump's, runs Vacuum, and checks that a View reading a data key
// is not left waiting on a lock (pg_stat_activity), without asserting any speed.
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

	vctx, cancelVacuum := context.WithCancel(ctx)
	defer cancelVacuum()
	vacuumed := make(chan error, 1)
	go func() { _, err := db.Vacuum(vctx, time.Now(), 0); vacuumed <- err }()

	// Wait until the vacuum's request for the key table's lock is queued (or it has returned).
	waiting := func(query string) bool {
		t.Helper()
		var n int
		if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	for deadline := time.Now().Add(30 * time.Second); !waiting("VACUUM FULL%"); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-vacuumed:
			t.Logf("Vacuum returned (%v) without waiting for the reader", err)
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("VACUUM FULL neither waited nor returned within 30 s")
		}
	}

	read := make(chan error, 1)
	rctx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	go func() {
		read <- db.View(rctx, func(tx store.Tx) error { _, _, err := tx.DataKey(rctx, "c1"); return err })
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-read:
			if err != nil {
				t.Fatalf("read of a data key while the vacuum waits: %v", err)
			}
			return
		default:
		}
		if waiting("SELECT%contact_keys%") {
			cancelRead()
			t.Fatal("a read of a data key waits for a lock behind VACUUM FULL, which waits for an open reader (a pg_dump): every node's reads and writes stall until the reader ends; want the rewrite to give up the lock queue (lock_timeout) and retry later")
		}
		if time.Now().After(deadline) {
			t.Fatal("the read neither returned nor waited within 30 s")
		}
	}
}
