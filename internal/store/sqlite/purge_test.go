package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store/sqlite"
)

// TestPurgeDuringASnapshotDoesNotFail: an erasure committed while a backup's snapshot reads
// (its read transaction older than the deletion) is purged once the snapshot ends. Before, Purge
// held the process's write lock for busy_timeout (10 s) and then failed, so the committed
// erasure answered 500 and every writer waited behind it.
func TestPurgeDuringASnapshotDoesNotFail(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir, key, db := markedStore(t, ctx)
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}

	copying, release := make(chan struct{}), make(chan struct{})
	snapped := make(chan error, 1)
	go func() {
		first := true
		s, err := sqlite.TakeSnapshot(ctx, dir, sqlite.Options{Keys: [][]byte{key}}, t.TempDir(), func(string, int, int) {
			if first {
				first = false
				close(copying)
				<-release
			}
		})
		if err == nil {
			s.Remove()
		}
		snapped <- err
	}()
	<-copying

	update(t, ctx, db, func(tx *sqlite.Tx) error {
		if err := tx.DeleteDataKey(ctx, dataMarker); err != nil {
			return err
		}
		return tx.DeleteContact(ctx, dataMarker)
	})
	if err := db.Purge(ctx); err != nil {
		t.Fatalf("Purge while a snapshot reads: %v", err)
	}
	if !db.PurgePending() {
		t.Fatal("PurgePending = false while the snapshot still holds the log")
	}
	// Writers are not held: another transaction commits at once.
	writeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.Update(writeCtx, func(tx *sqlite.Tx) error { return nil }); err != nil {
		t.Fatalf("a write after the held purge: %v", err)
	}

	close(release)
	if err := <-snapped; err != nil {
		t.Fatal(err)
	}
	for db.PurgePending() {
		select {
		case <-ctx.Done():
			t.Fatal("the purge was not done after the snapshot ended")
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, f := range []string{sqlite.DataFile, sqlite.KeysFile} {
		fi, err := os.Stat(filepath.Join(dir, f+"-wal"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != 0 {
			t.Errorf("%s-wal holds %d bytes after the purge; want 0 (truncated)", f, fi.Size())
		}
	}
}
