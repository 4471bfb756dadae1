package keys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tillit/tillit/internal/audit"
)

// Intervals of the record every serving process keeps of the keys it has loaded (Watch).
const (
	// NodeHeartbeat is how often a serving process writes its record when nothing changed.
	NodeHeartbeat = 10 * time.Second
	// NodeTTL is how long a record stays live without a heartbeat: a process killed without
	// removing its record holds up a rotation at most this long.
	NodeTTL = 3 * NodeHeartbeat
)

// Node is one process serving the store, as it records itself: which keys of each keyset it
// has loaded. No key material, no personal data.
type Node struct {
	ID      string                // random, per process start
	Host    string                // the machine's host name
	PID     int                   // the process id on Host
	Keysets map[string]KeysetInfo // what the process uses, by keyset name
	SeenAt  time.Time             // when the process last wrote the record (its clock, UTC)
}

// NodeTx records the processes that serve the store (one row each).
type NodeTx interface {
	// PutKeyNode inserts or replaces the record of the process n.ID.
	PutKeyNode(ctx context.Context, n Node) error
	// DeleteKeyNode removes the record of the process id (none: nothing to do).
	DeleteKeyNode(ctx context.Context, id string) error
	// KeyNodes returns every record, in id order.
	KeyNodes(ctx context.Context) ([]Node, error)
}

// StoredKey is one wrapped data key of the key store: a contact's, a request's or a
// processor's (OwnerID), at a key version, wrapped by the wrap keyset (NewDataKey).
type StoredKey struct {
	OwnerID string
	Version int
	Wrapped []byte
}

// RotateTx is what a rotation needs of a store transaction.
type RotateTx interface {
	NodeTx
	// WrappedKeys returns up to limit wrapped data keys whose owner id sorts after after
	// (bytewise), in owner id order.
	WrappedKeys(ctx context.Context, after string, limit int) ([]StoredKey, error)
	// ReplaceWrappedKey stores k.Wrapped for k.OwnerID in place of old, only while the stored
	// key is old at k.Version; false when it is not (erased or changed meanwhile).
	ReplaceWrappedKey(ctx context.Context, k StoredKey, old []byte) (bool, error)
	// CountWrappedKeys counts the key store's wrapped data keys.
	CountWrappedKeys(ctx context.Context) (int, error)
	AppendAudit(ctx context.Context, e *audit.Event) error
}

// NodeStore runs transactions over NodeTx.
type NodeStore interface {
	Update(ctx context.Context, fn func(NodeTx) error) error
}

// NewNode returns the record of this process with the keysets k uses, seen at now.
func NewNode(k *Keyring, now time.Time) (Node, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return Node{}, fmt.Errorf("keys: %w", err)
	}
	host, _ := os.Hostname()
	return Node{ID: hex.EncodeToString(b), Host: host, PID: os.Getpid(), Keysets: k.Info(), SeenAt: now.UTC()}, nil
}

// Watch keeps k in step with its keyset file and the store told of it, until ctx ends: every
// interval it reloads the file when it changed (Refresh; a failure is logged once per cause and
// the keys in use are kept), and it writes node's record (NodeTx.PutKeyNode) at once, whenever
// the keys in use change and every NodeHeartbeat. When ctx ends it removes the record, so a
// rotation does not wait for a process that stopped. now is the clock of the records.
func (k *Keyring) Watch(ctx context.Context, db NodeStore, node Node, interval time.Duration, now func() time.Time, logger *slog.Logger) {
	put := func() {
		node.Keysets, node.SeenAt = k.Info(), now().UTC()
		if err := db.Update(ctx, func(tx NodeTx) error { return tx.PutKeyNode(ctx, node) }); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "could not record the keys this process uses (a key rotation waits for it)", "err", err)
		}
	}
	put()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = db.Update(dctx, func(tx NodeTx) error { return tx.DeleteKeyNode(dctx, node.ID) })
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	last, lastErr := time.Now(), ""
	loaded := k.cur.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := k.Refresh()
		// A use of the keys (maybeRefresh) may have reloaded them since the last tick: what
		// changed is what is loaded, not what this Refresh did.
		cur := k.cur.Load()
		changed := cur != loaded
		loaded = cur
		switch {
		case err != nil && lastErr == "":
			// Once until it reads again: the error's text can differ from try to try (a token's
			// session), which logged it every second after a move of the root key.
			lastErr = err.Error()
			logger.ErrorContext(ctx, "keysets.json changed and could not be read: the keys in use are kept (if the root key was moved, restart with the new setting)", "err", err)
		case err == nil && lastErr != "":
			lastErr = ""
		}
		if changed {
			logger.InfoContext(ctx, "keysets reloaded", "keysets", infoAttr(k.Info()))
		}
		if changed || time.Since(last) >= NodeHeartbeat {
			put()
			last = time.Now()
		}
	}
}

func infoAttr(m map[string]KeysetInfo) string {
	b, _ := json.Marshal(m)
	return string(b)
}
