package sqlite

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// PurgeRetry is how often a purge that a reader held back is tried again.
var PurgeRetry = time.Second

// purgePatience is how long Purge itself keeps trying before it leaves the purge to the
// background: long enough for the reads of a serving process (View transactions, milliseconds)
// to end, short against a backup's copy.
const purgePatience = time.Second

// purger retries, in the background, a purge that a long reader held back (a backup's snapshot,
// TakeSnapshot). The zero value has none running.
type purger struct {
	mu      sync.Mutex
	running bool
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Purge makes rows deleted by committed transactions unrecoverable from the files: a TRUNCATE
// checkpoint of both write-ahead logs (Checkpoint), whose pages SQLite's secure_delete zeroed.
//
// A reader whose snapshot is older than the deletion (tillit backup's copy, which can read for
// minutes) keeps the deleted rows' older pages in the log until it ends, and no checkpoint can
// pass it. Purge then does not wait for it (that would hold every writer of the process and
// fail the erasure, which has committed): it returns nil and the checkpoint is tried again every
// PurgeRetry in the background until it passes, at the latest when the reader ends, or the
// store closes (Close checkpoints). PurgePending says whether one is waiting.
func (db *DB) Purge(ctx context.Context) error {
	deadline := time.Now().Add(purgePatience)
	for {
		done, err := db.tryPurge(ctx)
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			db.purgeLater()
			return nil
		}
		select {
		case <-ctx.Done():
			db.purgeLater()
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// PurgePending reports whether a purge a reader held back is still to be done.
func (db *DB) PurgePending() bool {
	db.purge.mu.Lock()
	defer db.purge.mu.Unlock()
	return db.purge.running
}

// tryPurge checkpoints both logs unless a reader older than their last frames holds them: a
// PASSIVE checkpoint first, which never waits for readers, tells (it copies fewer frames than the log has);
// only then the TRUNCATE checkpoint, which waits up to busy_timeout for readers of the newest
// snapshot, all short. done is false when a reader held either log.
func (db *DB) tryPurge(ctx context.Context) (done bool, err error) {
	if err := db.lock(ctx); err != nil {
		return false, err
	}
	defer db.unlock()
	for _, schema := range []string{"main", "keystore"} {
		var busy, logFrames, copied int
		if err := db.writer.QueryRowContext(ctx, "PRAGMA "+schema+".wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied); err != nil {
			return false, fmt.Errorf("sqlite: checkpoint %s: %w", schema, err)
		}
		if busy != 0 || copied < logFrames {
			return false, nil
		}
	}
	err = db.checkpointLocked(ctx)
	if err == errLogHeld {
		return false, nil
	}
	return err == nil, err
}

// purgeLater starts the background retry of a purge, unless one runs or the store is closed.
func (db *DB) purgeLater() {
	p := &db.purge
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running || p.closed {
		return
	}
	p.running = true
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func(stop <-chan struct{}) {
		defer p.wg.Done()
		t := time.NewTicker(PurgeRetry)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			done, _ := db.tryPurge(ctx)
			cancel()
			if done {
				p.mu.Lock()
				p.running = false
				p.mu.Unlock()
				return
			}
		}
	}(p.stop)
}

// stopPurger ends the background retry and waits for it; Close checkpoints after it.
func (db *DB) stopPurger() {
	p := &db.purge
	p.mu.Lock()
	p.closed = true
	if p.running {
		close(p.stop)
		p.running = false
	}
	p.mu.Unlock()
	p.wg.Wait()
}
