package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// insPurposeUnsubscribes keeps the first time recorded for an address and purpose.
var insPurposeUnsubscribes = "INSERT OR IGNORE INTO purpose_unsubscribes (hash, purpose_id, at, recorded_at)"

// PurposeUnsubscribedAt returns when the address with one of these suppression hashes (its hash
// under each key of the blind-index keyset) left purpose's list, the earliest when several did;
// NotFound when none did.
func (tx *Tx) PurposeUnsubscribedAt(ctx context.Context, hashes [][]byte, purpose string) (time.Time, error) {
	row, err := tx.queryRow(ctx, "SELECT min(at) FROM purpose_unsubscribes WHERE purpose_id = ? AND hash IN "+inList(len(hashes)), append([]any{purpose}, blobs(hashes)...)...)
	if err != nil {
		return time.Time{}, err
	}
	var at sql.NullString
	if err := row.Scan(&at); err != nil {
		return time.Time{}, err
	}
	if !at.Valid {
		return time.Time{}, apperr.New(apperr.NotFound, "not unsubscribed")
	}
	return parseTime(at.String)
}

// PurposeUnsubscribesFor returns, for those of the hashes that left purpose's list, the time
// keyed by string(hash).
func (tx *Tx) PurposeUnsubscribesFor(ctx context.Context, hashes [][]byte, purpose string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(hashes))
	err := tx.selectIn(ctx, "SELECT hash, at FROM purpose_unsubscribes WHERE purpose_id = ? AND hash IN ", blobs(hashes), func(scan func(...any) error) error {
		var h []byte
		var at string
		if err := scan(&h, &at); err != nil {
			return err
		}
		t, err := parseTime(at)
		if err != nil {
			return err
		}
		out[string(h)] = t
		return nil
	}, purpose)
	return out, err
}

// AddPurposeUnsubscribes records unsubscribes from purposes' lists; an entry already recorded
// for an address and purpose keeps its times.
func (tx *Tx) AddPurposeUnsubscribes(ctx context.Context, us []consent.PurposeUnsubscribe) error {
	return tx.insertChunks(ctx, insPurposeUnsubscribes, 4, len(us), func(i int) []any {
		return []any{us[i].Hash, us[i].Purpose, formatTime(us[i].At), formatTime(us[i].RecordedAt)}
	})
}

// LedgerListUnsubscribes returns the unsubscribes from purposes' lists recorded at or after
// since, in recorded order.
func (tx *Tx) LedgerListUnsubscribes(ctx context.Context, since time.Time) ([]consent.PurposeUnsubscribe, error) {
	rows, err := tx.query(ctx, "SELECT hash, purpose_id, at, recorded_at FROM purpose_unsubscribes WHERE recorded_at >= ? ORDER BY recorded_at, purpose_id, hash", formatTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []consent.PurposeUnsubscribe
	for rows.Next() {
		var u consent.PurposeUnsubscribe
		var at, recorded string
		if err := rows.Scan(&u.Hash, &u.Purpose, &at, &recorded); err != nil {
			return nil, err
		}
		if u.At, err = parseTime(at); err != nil {
			return nil, err
		}
		if u.RecordedAt, err = parseTime(recorded); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// MovePurposeUnsubscribes moves the unsubscribes from purposes' lists recorded under any of from
// to the hash to (an address's suppression hash under each older key of the blind-index keyset,
// to the one its contact stores): per purpose the earliest times are kept (an unsubscribe stands
// from when it was first made), then the entries under from are removed.
func (tx *Tx) MovePurposeUnsubscribes(ctx context.Context, to []byte, from [][]byte) error {
	if len(from) == 0 {
		return nil
	}
	rows, err := tx.query(ctx, "SELECT purpose_id, min(at), min(recorded_at) FROM purpose_unsubscribes WHERE hash IN "+inList(len(from))+" GROUP BY purpose_id ORDER BY purpose_id", blobs(from)...)
	if err != nil {
		return err
	}
	var us []consent.PurposeUnsubscribe
	for rows.Next() {
		var u consent.PurposeUnsubscribe
		var at, recorded string
		if err := rows.Scan(&u.Purpose, &at, &recorded); err != nil {
			rows.Close()
			return err
		}
		if u.At, err = parseTime(at); err == nil {
			u.RecordedAt, err = parseTime(recorded)
		}
		if err != nil {
			rows.Close()
			return err
		}
		u.Hash = to
		us = append(us, u)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, u := range us {
		// An entry held under to since later gives way to the earlier one.
		if _, err := tx.exec(ctx, "DELETE FROM purpose_unsubscribes WHERE hash = ? AND purpose_id = ? AND at > ?", to, u.Purpose, formatTime(u.At)); err != nil {
			return err
		}
	}
	if err := tx.AddPurposeUnsubscribes(ctx, us); err != nil {
		return err
	}
	_, err = tx.exec(ctx, "DELETE FROM purpose_unsubscribes WHERE hash IN "+inList(len(from)), blobs(from)...)
	return err
}
