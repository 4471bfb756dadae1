package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/consent"
)

// qConfirmedOptIns selects the confirmed double opt-ins (dpv:ConsentGiven, method double-opt-in)
// of the contacts that hold the listed suppression hashes.
const qConfirmedOptIns = "SELECT c.suppression_hash, e.occurred_at FROM consent_events e JOIN contacts c ON c.id = e.contact_id " +
	"WHERE e.state = ? AND e.method = ? AND c.suppression_hash IN "

// ConfirmedOptIns returns, keyed by string(hash), when the contact holding each listed
// suppression hash last confirmed a double opt-in (the latest occurred_at of its dpv:ConsentGiven
// events of method double-opt-in, UTC). A hash no contact holds, or whose contact never
// confirmed one, is absent.
func (tx *Tx) ConfirmedOptIns(ctx context.Context, hashes [][]byte) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(hashes))
	err := tx.selectIn(ctx, qConfirmedOptIns, blobs(hashes), func(scan func(...any) error) error {
		var h []byte
		var s string
		if err := scan(&h, &s); err != nil {
			return err
		}
		at, err := parseTime(s)
		if err != nil {
			return err
		}
		if at.After(out[string(h)]) {
			out[string(h)] = at
		}
		return nil
	}, string(consent.Given), string(consent.MethodDoubleOptIn))
	return out, err
}

// LedgerAddressHashes returns, keyed by contact id, the suppression hash of the e-mail address of
// each listed contact that has one (contact.Record.SuppressionHash); other ids are absent.
func (tx *Tx) LedgerAddressHashes(ctx context.Context, ids []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := tx.query(ctx, "SELECT id, suppression_hash FROM contacts WHERE suppression_hash IS NOT NULL AND id IN (?"+strings.Repeat(", ?", len(chunk)-1)+")", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var h []byte
			if err := rows.Scan(&id, &h); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = h
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
