package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/ledger"
)

// AppendErasure appends the id to the erasure ledger that every restore replays, with the
// suppression hashes of the contact's addresses; an id already there is kept as it is.
func (tx *Tx) AppendErasure(ctx context.Context, contactID string, at time.Time, suppressionHashes [][]byte) error {
	hs := make([]string, len(suppressionHashes))
	for i, h := range suppressionHashes {
		hs[i] = hex.EncodeToString(h)
	}
	b, err := json.Marshal(hs)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, "INSERT OR IGNORE INTO erasure_ledger (contact_id, erased_at, suppression_hashes) VALUES (?, ?, ?)", contactID, formatTime(at), string(b))
	return err
}

// ErasureRecorded reports whether the erasure ledger holds the contact id.
func (tx *Tx) ErasureRecorded(ctx context.Context, contactID string) (bool, error) {
	row, err := tx.queryRow(ctx, "SELECT count(*) FROM erasure_ledger WHERE contact_id = ?", contactID)
	if err != nil {
		return false, err
	}
	var n int
	if err := row.Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// LedgerErasures returns the erasure ledger's entries erased at or after since, oldest first.
func (tx *Tx) LedgerErasures(ctx context.Context, since time.Time) ([]ledger.Erasure, error) {
	rows, err := tx.query(ctx, "SELECT contact_id, erased_at, suppression_hashes FROM erasure_ledger WHERE erased_at >= ? ORDER BY erased_at, contact_id", formatTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Erasure
	for rows.Next() {
		var e ledger.Erasure
		var at, hashes string
		if err := rows.Scan(&e.ContactID, &at, &hashes); err != nil {
			return nil, err
		}
		if e.ErasedAt, err = parseTime(at); err != nil {
			return nil, err
		}
		var hs []string
		if err := json.Unmarshal([]byte(hashes), &hs); err != nil {
			return nil, fmt.Errorf("store: erasure ledger %s: %w", e.ContactID, err)
		}
		for _, h := range hs {
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("store: erasure ledger %s: %w", e.ContactID, err)
			}
			e.SuppressionHashes = append(e.SuppressionHashes, b)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// LedgerSuppressions returns the suppression entries recorded at or after since (RecordedAt, not
// the event's CreatedAt, which may be long before: an imported CLEAN_TIME), in recorded order.
func (tx *Tx) LedgerSuppressions(ctx context.Context, since time.Time) ([]consent.Suppression, error) {
	rows, err := tx.query(ctx, "SELECT hash, reason, created_at, recorded_at FROM suppressions WHERE recorded_at >= ? ORDER BY recorded_at, hash", formatTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []consent.Suppression
	for rows.Next() {
		s, err := scanSuppression(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// LedgerConsentEvents returns the withdrawals and refusals recorded at or after since, in
// recorded order, with their sealed evidence.
func (tx *Tx) LedgerConsentEvents(ctx context.Context, since time.Time) ([]consent.Event, [][]byte, error) {
	rows, err := tx.query(ctx, "SELECT "+eventCols+" FROM consent_events WHERE state IN (?, ?) AND recorded_at >= ? ORDER BY seq",
		string(consent.Withdrawn), string(consent.Refused), formatTime(since))
	if err != nil {
		return nil, nil, err
	}
	return scanEvents(rows)
}

// LedgerObjections returns the objections in force recorded at or after since.
func (tx *Tx) LedgerObjections(ctx context.Context, since time.Time) ([]consent.Objection, error) {
	rows, err := tx.query(ctx, "SELECT contact_id, scope, method, occurred_at, recorded_at, actor FROM objections WHERE recorded_at >= ? ORDER BY recorded_at, contact_id, scope", formatTime(since))
	if err != nil {
		return nil, err
	}
	return scanObjections(rows)
}

// qRestrictions selects the restricted contacts with the time of their restriction: when the
// last "restricted" change of the change stream occurred, or the contact's last update when there
// is none.
const qRestrictions = `SELECT id, at FROM (
    SELECT c.id, COALESCE(r.at, c.updated_at) AS at FROM contacts c
    LEFT JOIN (SELECT contact_id, max(occurred_at) AS at FROM consent_changes WHERE change = 'restricted' GROUP BY contact_id) r ON r.contact_id = c.id
    WHERE c.restricted = 1
) AS restricted WHERE at >= ? ORDER BY at, id`

// LedgerRestrictions returns the restrictions in force decided at or after since.
func (tx *Tx) LedgerRestrictions(ctx context.Context, since time.Time) ([]ledger.Restriction, error) {
	rows, err := tx.query(ctx, qRestrictions, formatTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Restriction
	for rows.Next() {
		var r ledger.Restriction
		var at string
		if err := rows.Scan(&r.ContactID, &at); err != nil {
			return nil, err
		}
		if r.RestrictedAt, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// qLedgerRequests selects the verified requests of the ledger's types (ledger.RequestTypes)
// that are open, or were closed at or after since.
var qLedgerRequests = "SELECT " + requestCols + " FROM requests WHERE contact_id <> '' AND type IN ('" + strings.Join(ledger.RequestTypes, "', '") + "') " +
	"AND state NOT IN ('received', 'verifying') AND (state NOT IN ('completed', 'rejected') OR completed_at >= ?) ORDER BY id"

// LedgerRequests returns the verified requests the ledger carries (open, or closed at or after
// since), each with when it was verified (its first "verified" event; zero when none).
func (tx *Tx) LedgerRequests(ctx context.Context, since time.Time) ([]ledger.Request, error) {
	recs, err := tx.queryRequests(ctx, qLedgerRequests, formatTime(since))
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Request, len(recs))
	for i, r := range recs {
		out[i] = ledger.Request{ID: r.ID, Type: string(r.Type), State: string(r.State), ContactID: r.ContactID, Channel: string(r.Channel),
			ReceivedAt: r.ReceivedAt, DueAt: r.DueAt}
		if r.ExtendedUntil != nil {
			out[i].ExtendedUntil = *r.ExtendedUntil
		}
		if r.CompletedAt != nil && !r.Open() {
			out[i].ClosedAt = *r.CompletedAt
		}
		row, err := tx.queryRow(ctx, "SELECT min(at) FROM request_events WHERE request_id = ? AND action = 'verified'", r.ID)
		if err != nil {
			return nil, err
		}
		var at sql.NullString
		if err := row.Scan(&at); err != nil {
			return nil, err
		}
		if at.Valid {
			if out[i].VerifiedAt, err = parseTime(at.String); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
