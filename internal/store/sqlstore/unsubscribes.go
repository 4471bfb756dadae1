package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// insPurposeUnsubscribes keeps the first time recorded for an address and purpose.
var insPurposeUnsubscribes = "INSERT OR IGNORE INTO purpose_unsubscribes (hash, purpose_id, at, recorded_at)"

// PurposeUnsubscribedAt returns when the address with this suppression hash left purpose's list;
// NotFound when it did not.
func (tx *Tx) PurposeUnsubscribedAt(ctx context.Context, hash []byte, purpose string) (time.Time, error) {
	row, err := tx.queryRow(ctx, "SELECT at FROM purpose_unsubscribes WHERE hash = ? AND purpose_id = ?", hash, purpose)
	if err != nil {
		return time.Time{}, err
	}
	var at string
	if err := row.Scan(&at); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return time.Time{}, apperr.New(apperr.NotFound, "not unsubscribed")
		}
		return time.Time{}, err
	}
	return parseTime(at)
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
