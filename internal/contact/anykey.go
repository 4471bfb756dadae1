package contact

import (
	"context"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// The blind-index keyset may hold several keys (after keys rotate --bidx): a contact's stored
// index and suppression hash are made with the primary key, older contacts' with the key that
// was primary then until the rotation re-indexes them, and an address's entries on the
// suppression list may be under any key (those of people erased are never made again). So every
// lookup by an address matches its index or hash under each key (keys.Keyring.BlindIndexes), and
// every write of an address first makes sure no contact holds it under another key (the store's
// unique index sees one key only) and then moves the address's suppression entries to the hash
// it stores (consent.Rekey).

// indexes returns all when sealing made it (Record.EmailIndexes), else the stored one alone.
func indexes(all [][]byte, stored []byte) [][]byte {
	if len(all) > 0 {
		return all
	}
	return [][]byte{stored}
}

// addressFree is a Conflict duplicate_email, with the holder's id, when another contact than
// rec holds rec's address under an older key of the blind-index keyset; the store's unique index
// refuses one under the same key. Nothing to do with one key, or without an address.
func addressFree(ctx context.Context, tx Tx, rec *Record) error {
	if len(rec.EmailIndexes) < 2 {
		return nil
	}
	other, err := tx.ContactByEmailIndex(ctx, rec.EmailIndexes[1:]...)
	switch {
	case apperr.Is(err, apperr.NotFound):
		return nil
	case err != nil:
		return err
	case other.ID == rec.ID:
		return nil
	}
	return &apperr.Error{Kind: apperr.Conflict, Field: "email", Reason: "duplicate_email", Message: "email: a contact with this address exists", ID: other.ID}
}

// rekeyAddress moves the suppression entries of rec's address made with older keys to the hash
// rec stores (consent.Rekey).
func rekeyAddress(ctx context.Context, tx Tx, rec *Record) error {
	if len(rec.SuppressionHashes) < 2 {
		return nil
	}
	return consent.Rekey(ctx, tx, rec.SuppressionHash, rec.SuppressionHashes[1:])
}
