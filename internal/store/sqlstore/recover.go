package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/store"
)

// A backend whose key store is a second file (SQLite) commits one transaction file by file:
// the data file first, then the key store. A process killed between the two leaves the data
// file one transaction ahead of the key store, never the other way round. Each side carries a
// commit marker, bumped by every transaction that writes the key store; equal markers mean the
// two agree (always so on a database that commits both schemas at once, PostgreSQL). See
// internal/store/sqlite's doc for the invariants and reconcile for the repair.

const qMarkers = `SELECT m.gen, k.gen, k.bound, m.anchor_seq, m.anchor_hash, m.anchor_mac
FROM main.commit_marker m, keystore.commit_marker k WHERE m.id = 1 AND k.id = 1`

// Repair is what reconcile did to bring the two files together after a split commit.
type Repair = store.Repair

// reconcile runs at the start of every write transaction: with equal markers it does nothing;
// with the data file ahead (a process died between the two files' commits, this one or another
// writing the same files) it finishes the half-committed transaction as the data file says:
//   - the audit anchor moves to the one the data file's last commit recorded, if its MAC
//     verifies and the log holds that event (advanceAnchor); anything else is left for
//     VerifyAudit to report;
//   - a key whose owner row is gone, or whose request was forgotten, is deleted: an erasure or
//     a forgetting is finished, never undone (GDPR Art. 17);
//   - a contact, request or processor whose key never committed is deleted with what cascades
//     from it: its fields could never be read again, and its creation was never acknowledged.
//
// The key-store checks read every key (about a second at a million contacts): paid only after a
// crash in that window. A key store ahead of the data file cannot come from a crash with
// synchronous=FULL (only from files restored from different moments); it is left alone, and
// VerifyAudit reports it as "truncated". Update commits the repair on its own.
func (tx *Tx) reconcile(ctx context.Context) (*Repair, error) {
	var dataGen, keysGen, bound int64
	var target anchorTarget
	row, err := tx.queryRow(ctx, qMarkers)
	if err != nil {
		return nil, err
	}
	if err := row.Scan(&dataGen, &keysGen, &bound, &target.seq, &target.hash, &target.mac); err != nil {
		return nil, fmt.Errorf("store: commit markers: %w", err)
	}
	if dataGen <= keysGen {
		return nil, nil
	}
	rep := &Repair{}
	if err := tx.advanceAnchor(ctx, rep, target, bound == 1); err != nil {
		return nil, err
	}
	steps := []struct {
		n    *int64
		stmt string
	}{
		// Forgotten requests first: their rows stay, their keys go.
		{&rep.KeysDeleted, "DELETE FROM keystore.contact_keys WHERE contact_id IN (SELECT id FROM requests WHERE key_destroyed = 1)"},
		{&rep.KeysDeleted, "DELETE FROM keystore.contact_keys WHERE contact_id NOT IN (SELECT id FROM contacts) AND contact_id NOT IN (SELECT id FROM requests) AND contact_id NOT IN (SELECT id FROM processors)"},
		{&rep.ContactsDeleted, "DELETE FROM contacts WHERE id NOT IN (SELECT contact_id FROM keystore.contact_keys)"},
		{&rep.RequestsDeleted, "DELETE FROM requests WHERE key_destroyed = 0 AND id NOT IN (SELECT contact_id FROM keystore.contact_keys)"},
		{&rep.ProcessorsDeleted, "DELETE FROM processors WHERE id NOT IN (SELECT contact_id FROM keystore.contact_keys)"},
	}
	for _, s := range steps {
		res, err := tx.exec(ctx, s.stmt)
		if err != nil && tx.base.Dialect.IsConstraint != nil && tx.base.Dialect.IsConstraint(err) {
			// A row that others still reference (a processor with disclosures) was not created
			// by the lost transaction: it stays, and the failed statement changed nothing.
			rep.Kept = append(rep.Kept, s.stmt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: repair after a split commit: %w", err)
		}
		n, _ := res.RowsAffected()
		*s.n += n
	}
	if _, err := tx.exec(ctx, "UPDATE keystore.commit_marker SET gen = ? WHERE id = 1", dataGen); err != nil {
		return nil, err
	}
	return rep, nil
}

// anchorTarget is the anchor the data file's last commit wrote (NULL before any did).
type anchorTarget struct {
	seq       sql.NullInt64
	hash, mac []byte
}

// advanceAnchor moves the key store's anchor to the one the data file's last commit recorded,
// when that is ahead, its MAC verifies and the log holds that event with that hash. Before any
// commit recorded one (bound false: the upgrade that created the markers), it moves the anchor
// over the events that chain from it instead. Anything else is left for VerifyAudit to report.
func (tx *Tx) advanceAnchor(ctx context.Context, rep *Repair, target anchorTarget, bound bool) error {
	if err := tx.loadHead(ctx); err != nil {
		return err
	}
	rep.AnchorFrom, rep.AnchorTo = tx.headSeq, tx.headSeq
	if !target.seq.Valid {
		if bound {
			return nil // the data file's record of its anchor was removed: not a crash
		}
		return tx.advanceOverChain(ctx, rep)
	}
	if target.seq.Int64 <= tx.headSeq {
		return nil
	}
	if tx.base.AnchorMAC != nil {
		ok, err := tx.base.anchorVerifies(target.seq.Int64, target.hash, target.mac)
		if err != nil {
			return err
		}
		if !ok {
			return nil // forged in the data file: VerifyAudit reports the events beyond the anchor
		}
	}
	row, err := tx.queryRow(ctx, "SELECT hash FROM audit_events WHERE seq = ?", target.seq.Int64)
	if err != nil {
		return err
	}
	var hash []byte
	if err := row.Scan(&hash); err != nil || !bytes.Equal(hash, target.hash) {
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return nil
	}
	tx.headSeq, tx.headHash, tx.headMoved = target.seq.Int64, target.hash, true
	rep.AnchorTo = target.seq.Int64
	return nil
}

// advanceOverChain moves the anchor over the events after it when they chain from it.
func (tx *Tx) advanceOverChain(ctx context.Context, rep *Repair) error {
	rows, err := tx.query(ctx, "SELECT "+auditCols+" FROM audit_events WHERE seq > ? ORDER BY seq", tx.headSeq)
	if err != nil {
		return err
	}
	defer rows.Close()
	seq, prev := tx.headSeq, tx.headHash
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if e.Seq != seq+1 || !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(e.ComputeHash(prev), e.Hash) {
			break // not a crash's leftover: VerifyAudit reports it
		}
		seq, prev = e.Seq, e.Hash
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if seq != tx.headSeq {
		tx.headSeq, tx.headHash, tx.headMoved = seq, prev, true
		rep.AnchorTo = seq
	}
	return nil
}

// Readiness is the answer of Ready: whether the store takes writes and the audit chain can be
// appended, and if not, why (no personal data).
type Readiness = store.Readiness

// Ready takes the write lock (waiting at most wait), opens a write transaction, reconciles the
// files as every write does (a repair is committed), checks that the next audit event can be
// appended (the anchor's MAC verifies and no event lies beyond it), writes both files' markers
// and rolls back. It is what GET /readyz answers: whether writes work, not whether the log is
// intact (tillit audit verify answers that).
func Ready(ctx context.Context, wait time.Duration, update func(context.Context, func(*Tx) error) error) Readiness {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	errChecked := errors.New("checked") // rolls the probe writes back
	reason := ""
	err := update(ctx, func(tx *Tx) error {
		if err := tx.loadHead(ctx); err != nil {
			return err
		}
		// Events beyond the anchor that the repair did not take (not a crash's: forged in the
		// data file) make the next event's number collide: no write can be audited. A log
		// behind its anchor (newest events deleted) still takes the next event, after a gap
		// that tillit audit verify reports.
		row, err := tx.queryRow(ctx, "SELECT coalesce(max(seq), 0) FROM audit_events")
		if err != nil {
			return err
		}
		var seq int64
		if err := row.Scan(&seq); err != nil {
			return err
		}
		if seq > tx.headSeq {
			reason = "audit_head_mismatch"
			return errChecked
		}
		for _, q := range []string{"UPDATE main.commit_marker SET gen = gen WHERE id = 1", "UPDATE keystore.commit_marker SET gen = gen WHERE id = 1"} {
			if _, err := tx.exec(ctx, q); err != nil {
				return err
			}
		}
		return errChecked
	})
	var ae *apperr.Error
	switch {
	case errors.Is(err, errChecked) && reason == "":
		return Readiness{Ready: true}
	case reason != "":
		return Readiness{Reason: reason}
	case errors.As(err, &ae) && ae.Reason == "anchor_forged":
		return Readiness{Reason: "anchor_forged"}
	default:
		return Readiness{Reason: "store_unavailable"}
	}
}

// noteWrite marks a transaction whose statement writes the key store, so the markers move at
// commit.
func (tx *Tx) noteWrite(query string) {
	if strings.HasPrefix(strings.TrimSpace(query), "SELECT") {
		return
	}
	if !tx.keysTouched && strings.Contains(query, "keystore.") {
		tx.keysTouched = true
	}
}

// errSplit wraps a failure to reconcile; the write is refused as unavailable.
func errSplit(err error) error {
	return &apperr.Error{Kind: apperr.Unavailable, Message: "the store could not be repaired after a crash", Err: err}
}

// syncMap is a sync.Map of strings to strings.
type syncMap struct{ m sync.Map }

func (s *syncMap) Load(k string) (string, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		return "", false
	}
	return v.(string), true
}

func (s *syncMap) Store(k, v string) { s.m.Store(k, v) }
