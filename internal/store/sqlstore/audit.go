package sqlstore

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/store"
)

// AppendAudit numbers e as the next event, chains it to the previous one and inserts it, in the
// caller's transaction (AppendAudits with one event).
func (tx *Tx) AppendAudit(ctx context.Context, e *audit.Event) error {
	return tx.AppendAudits(ctx, []*audit.Event{e})
}

const auditCols = "seq, at, actor_kind, actor_id, actor_role, action, object_kind, object_id, fields, request_id, purpose, prev_hash, hash"

// AuditFilter selects audit events.
type AuditFilter = store.AuditFilter

// AuditEvents returns events in sequence order. It reads from the reader pool and decrypts
// nothing, so it needs no audit event of its own.
func (b *Base) AuditEvents(ctx context.Context, f AuditFilter) ([]audit.Event, error) {
	q := "SELECT " + auditCols + " FROM audit_events WHERE seq > ?"
	args := []any{f.AfterSeq}
	switch {
	case f.ObjectID != "":
		q += " AND object_kind = ? AND object_id = ?"
		args = append(args, f.ObjectKind, f.ObjectID)
	case f.ObjectKind != "":
		q += " AND object_kind = ?"
		args = append(args, f.ObjectKind)
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, f.Limit)
	rows, err := b.Reader.QueryContext(ctx, b.rewrite(q), args...)
	return scanAudits(rows, err)
}

// scanAudits reads every event of rows and closes them.
func scanAudits(rows *sql.Rows, err error) ([]audit.Event, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []audit.Event{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditAnchorAt returns the time of the event the audit anchor names (the anchor moves with
// every append, so this is when it was last written); NotFound when there is no anchor or no
// event at it.
func (tx *Tx) AuditAnchorAt(ctx context.Context) (time.Time, error) {
	row, err := tx.queryRow(ctx, "SELECT e.at FROM keystore.audit_anchor a JOIN audit_events e ON e.seq = a.seq WHERE a.id = 1")
	if err != nil {
		return time.Time{}, err
	}
	var at string
	if err := row.Scan(&at); errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, apperr.New(apperr.NotFound, "no audit anchor")
	} else if err != nil {
		return time.Time{}, err
	}
	return parseTime(at)
}

// VerifyAudit walks the whole chain in sequence order in constant memory and reports the first
// event that does not verify.
func (b *Base) VerifyAudit(ctx context.Context) (audit.Verification, error) {
	rows, err := b.Reader.QueryContext(ctx, b.rewrite("SELECT "+auditCols+" FROM audit_events ORDER BY seq"))
	if err != nil {
		return audit.Verification{}, err
	}
	defer rows.Close()
	v := audit.NewVerifier()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return audit.Verification{}, err
		}
		if !v.Add(e) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return audit.Verification{}, err
	}
	rows.Close()
	var seq int64
	var hash, mac []byte
	anchored := true
	err = b.Reader.QueryRowContext(ctx, b.rewrite("SELECT seq, hash, mac FROM keystore.audit_anchor WHERE id = 1")).Scan(&seq, &hash, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		seq, hash, err, anchored = 0, audit.Genesis(), nil, false
	}
	if err != nil {
		return audit.Verification{}, fmt.Errorf("store: audit anchor: %w", err)
	}
	if anchored && b.AnchorMAC != nil {
		ok, err := b.anchorVerifies(seq, hash, mac)
		if err != nil {
			return audit.Verification{}, err
		}
		if !ok {
			v.AnchorForged(seq)
		}
	}
	v.CheckAnchor(seq, hash)
	return v.Result(), nil
}

// KeyEvidence reads the audit anchor and the key store's first data key by owner id
// (store.KeyEvidence). An anchor this Open could not seal yet (AnchorUnsealed) verifies.
func (b *Base) KeyEvidence(ctx context.Context) (store.KeyEvidence, error) {
	ev := store.KeyEvidence{AnchorVerifies: true}
	var seq int64
	var hash, mac []byte
	err := b.Reader.QueryRowContext(ctx, b.rewrite("SELECT seq, hash, mac FROM keystore.audit_anchor WHERE id = 1")).Scan(&seq, &hash, &mac)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return ev, fmt.Errorf("store: audit anchor: %w", err)
	case b.AnchorMAC != nil && !b.AnchorUnsealed:
		ok, err := b.anchorVerifies(seq, hash, mac)
		if err != nil {
			return ev, err
		}
		ev.AnchorVerifies = ok
	}
	err = b.Reader.QueryRowContext(ctx, b.rewrite("SELECT contact_id, version, wrapped FROM keystore.contact_keys ORDER BY contact_id LIMIT 1")).Scan(&ev.OwnerID, &ev.Version, &ev.Wrapped)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return ev, fmt.Errorf("store: data key: %w", err)
	}
	return ev, nil
}

// SealAnchor writes the keyed MAC of the anchor when this Open is the one that added the MAC
// column (an anchor written before anchors carried one): trust on first use, at the upgrade
// only, so an anchor whose MAC is later removed still shows as forged. A no-op otherwise, and
// without AnchorMAC or an anchor. update runs one write transaction (the backend's Update).
func (b *Base) SealAnchor(ctx context.Context, update func(context.Context, func(*Tx) error) error) error {
	if b.AnchorMAC == nil || !b.AnchorUnsealed {
		return nil
	}
	err := update(ctx, func(tx *Tx) error {
		var seq int64
		var hash, mac []byte
		row, err := tx.queryRow(ctx, "SELECT seq, hash, mac FROM keystore.audit_anchor WHERE id = 1")
		if err != nil {
			return err
		}
		if err := row.Scan(&seq, &hash, &mac); errors.Is(err, sql.ErrNoRows) || err == nil && mac != nil {
			return nil
		} else if err != nil {
			return err
		}
		if mac, err = b.AnchorMAC(seq, hash); err != nil {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE keystore.audit_anchor SET mac = ? WHERE id = 1", mac)
		return err
	})
	if err == nil {
		b.AnchorUnsealed = false // from now on every anchor read must verify (loadHead)
	}
	return err
}

func scanAudit(row scanner) (audit.Event, error) {
	var e audit.Event
	var at, fields string
	if err := row.Scan(&e.Seq, &at, &e.Actor.Kind, &e.Actor.ID, &e.Actor.Role, &e.Action, &e.ObjectKind, &e.ObjectID, &fields, &e.RequestID, &e.Purpose, &e.PrevHash, &e.Hash); err != nil {
		return e, fmt.Errorf("store: scan audit event: %w", err)
	}
	if fields != "" {
		e.Fields = strings.Split(fields, ",")
	}
	var err error
	e.At, err = parseTime(at)
	return e, err
}

// AuditEventsAbout returns every audit event about one object, in sequence order, inside the
// caller's transaction (the access bundle reads them with the data they describe).
func (tx *Tx) AuditEventsAbout(ctx context.Context, objectKind, objectID string) ([]audit.Event, error) {
	return scanAudits(tx.query(ctx, "SELECT "+auditCols+" FROM audit_events WHERE object_kind = ? AND object_id = ? ORDER BY seq", objectKind, objectID))
}

// anchorVerifies reports whether mac is the audit anchor's (seq, hash) MAC under a key the
// installation holds: any of AnchorMACs when set (an anchor written before the blind-index
// keyset's primary changed carries an older key's MAC until the next write), else AnchorMAC's.
func (b *Base) anchorVerifies(seq int64, hash, mac []byte) (bool, error) {
	if b.AnchorMACs == nil {
		want, err := b.AnchorMAC(seq, hash)
		return err == nil && hmac.Equal(mac, want), err
	}
	macs, err := b.AnchorMACs(seq, hash)
	if err != nil {
		return false, err
	}
	for _, want := range macs {
		if hmac.Equal(mac, want) {
			return true, nil
		}
	}
	return false, nil
}
