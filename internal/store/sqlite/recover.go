package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
)

// The two files commit one transaction file by file (SQLite's WAL mode has no super-journal):
// tillit.db first, then keys.db. A process killed between the two leaves the data file one
// transaction ahead of the key store, never the other way round. Each file carries a commit
// marker, bumped by every transaction that writes the key store; equal markers mean the files
// agree. See doc.go for the invariants and reconcile for the repair.

// ensureMarkers creates the commit markers when absent (a new store, or one from before them).
// Not a migration: a migration spans both files too, and a marker lost with it would stop Open.
func (db *DB) ensureMarkers(ctx context.Context) error {
	_, err := db.writer.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS main.commit_marker (id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS keystore.commit_marker (id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL) STRICT;
INSERT OR IGNORE INTO main.commit_marker (id, gen) VALUES (1, 0);
INSERT OR IGNORE INTO keystore.commit_marker (id, gen) VALUES (1, (SELECT gen FROM main.commit_marker WHERE id = 1));`)
	if err != nil {
		return fmt.Errorf("sqlite: commit markers: %w", err)
	}
	return nil
}

const qMarkers = "SELECT (SELECT gen FROM main.commit_marker WHERE id = 1), (SELECT gen FROM keystore.commit_marker WHERE id = 1)"

// Repair is what reconcile did to bring the two files together after a split commit.
type Repair struct {
	AnchorFrom, AnchorTo int64    // the audit anchor moved from one sequence number to another
	KeysDeleted          int64    // keys of erased contacts, forgotten requests or uncommitted owners
	ContactsDeleted      int64    // contacts whose key never reached the key store
	RequestsDeleted      int64    // requests whose key never reached the key store
	ProcessorsDeleted    int64    // processors whose key never reached the key store
	Kept                 []string // repair statements refused by a foreign key (nothing deleted)
}

func (r Repair) String() string {
	return fmt.Sprintf("audit anchor %d→%d, %d keys deleted, %d contacts, %d requests and %d processors without a key deleted, %d steps kept by a foreign key",
		r.AnchorFrom, r.AnchorTo, r.KeysDeleted, r.ContactsDeleted, r.RequestsDeleted, r.ProcessorsDeleted, len(r.Kept))
}

// reconcile runs at the start of every write transaction: with equal markers it does nothing;
// with the data file ahead (a process died between the two files' commits, this one or another
// writing the same files) it finishes the half-committed transaction in the key store's favour
// of what the data file says:
//   - the audit anchor moves to the head of the chain, if the events after it chain from it
//     (events that do not chain are left for VerifyAudit to report);
//   - a key whose owner row is gone is deleted: an erasure or a forgotten request is finished,
//     never undone (GDPR Art. 17);
//   - a contact, request or processor whose key never committed is deleted with what cascades
//     from it: its fields could never be read again, and its creation was never acknowledged.
//
// The key-store checks read every key (about a second at a million contacts): paid only after a
// crash in that window. A key store ahead of the data file cannot come from a crash with
// synchronous=FULL (only from files restored from different moments); it is left alone, and
// VerifyAudit reports it as "truncated".
func (tx *Tx) reconcile(ctx context.Context) (*Repair, error) {
	var dataGen, keysGen int64
	row, err := tx.queryRow(ctx, qMarkers)
	if err != nil {
		return nil, err
	}
	if err := row.Scan(&dataGen, &keysGen); err != nil {
		return nil, fmt.Errorf("sqlite: commit markers: %w", err)
	}
	if dataGen <= keysGen {
		return nil, nil
	}
	rep := &Repair{}
	if err := tx.advanceAnchor(ctx, rep); err != nil {
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
		var se *sqlite3.Error
		if errors.As(err, &se) && se.Code() == sqlite3.CONSTRAINT {
			// A row that others still reference (a processor with disclosures) was not created
			// by the lost transaction: it stays, and the failed statement changed nothing.
			rep.Kept = append(rep.Kept, s.stmt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: repair after a split commit: %w", err)
		}
		n, _ := res.RowsAffected()
		*s.n += n
	}
	if _, err := tx.exec(ctx, "UPDATE keystore.commit_marker SET gen = ? WHERE id = 1", dataGen); err != nil {
		return nil, err
	}
	return rep, nil
}

// advanceAnchor moves the anchor over the events after it when they chain from it.
func (tx *Tx) advanceAnchor(ctx context.Context, rep *Repair) error {
	if err := tx.loadHead(ctx); err != nil {
		return err
	}
	rep.AnchorFrom, rep.AnchorTo = tx.headSeq, tx.headSeq
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
			return rows.Close() // not a crash's leftover: VerifyAudit reports it
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
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"` // "store_unavailable", "audit_head_mismatch"
}

// Ready opens a write transaction (waiting at most wait for the write lock), reconciles the
// files as every write does, checks that the anchored audit head is the log's last event (the
// next event can be appended), and rolls back unless a repair had to be committed. It is what
// GET /readyz answers.
func (db *DB) Ready(ctx context.Context, wait time.Duration) Readiness {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	errNotReady := errors.New("not ready")
	reason := ""
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.loadHead(ctx); err != nil {
			return err
		}
		row, err := tx.queryRow(ctx, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
		if err != nil {
			return err
		}
		seq, hash := int64(0), audit.Genesis()
		if err := row.Scan(&seq, &hash); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if seq != tx.headSeq || !bytes.Equal(hash, tx.headHash) {
			reason = "audit_head_mismatch"
			return errNotReady
		}
		if tx.headMoved || tx.repair != nil {
			return nil // commit the repair
		}
		return errNotReady // nothing to commit: roll back
	})
	switch {
	case err == nil:
		return Readiness{Ready: true}
	case errors.Is(err, errNotReady) && reason == "":
		return Readiness{Ready: true}
	case reason != "":
		return Readiness{Reason: reason}
	default:
		return Readiness{Reason: "store_unavailable"}
	}
}

// noteWrite marks the transaction as writing the key store, so the markers move at commit.
func (tx *Tx) noteWrite(query string) {
	if !tx.keysTouched && strings.Contains(query, "keystore.") && !strings.HasPrefix(strings.TrimSpace(query), "SELECT") {
		tx.keysTouched = true
	}
}

// errSplit wraps a failure to reconcile; the write is refused as unavailable.
func errSplit(err error) error {
	return &apperr.Error{Kind: apperr.Unavailable, Message: "the store could not be repaired after a crash", Err: err}
}
