package consent

import (
	"context"

	"github.com/tillit/tillit/internal/apperr"
)

// RekeyTx is what Rekey needs from a store transaction.
type RekeyTx interface {
	SuppressTx
	// DeleteSuppression removes the entries of hashes.
	DeleteSuppression(ctx context.Context, hashes ...[]byte) error
	// MovePurposeUnsubscribes moves the unsubscribes from purposes' lists recorded under any of
	// from to the hash to, each purpose's earliest kept.
	MovePurposeUnsubscribes(ctx context.Context, to []byte, from [][]byte) error
}

// Rekey moves what the suppression list and the purposes' lists hold for an address under its
// suppression hashes from (made with the other keys of the blind-index keyset) to its hash to
// (the one its contact stores, made with the primary key), so that the consent gate, which
// matches a contact's stored hash to the lists' (GateFacts), sees them whatever key made them:
// the contact service calls it when it stores an address (a contact created or given a new
// address after a rotation, whose address was suppressed before it), and the rotation of the
// blind-index keyset when it re-indexes a contact (keys rotate --bidx). The entries under from
// merge into to's (an erasure replaces an entry of another reason, whatever its time: the two were
// held at once, Outranks; otherwise by the one rule of Suppress) and are removed. Nothing to do without from.
func Rekey(ctx context.Context, tx RekeyTx, to []byte, from [][]byte) error {
	if len(from) == 0 {
		return nil
	}
	if _, err := tx.Suppression(ctx, from...); err == nil {
		for _, h := range from {
			s, err := tx.Suppression(ctx, h)
			if apperr.Is(err, apperr.NotFound) {
				continue
			}
			if err != nil {
				return err
			}
			s.Hash = to
			if err := rekeyOne(ctx, tx, s); err != nil {
				return err
			}
		}
		if err := tx.DeleteSuppression(ctx, from...); err != nil {
			return err
		}
	} else if !apperr.Is(err, apperr.NotFound) {
		return err
	}
	return tx.MovePurposeUnsubscribes(ctx, to, from)
}

// rekeyOne merges s, an entry moved to the hash the contact stores, into the entry held there:
// one that s outranks (Outranks: an erasure, held at once under another key) is replaced
// whatever its time; otherwise by the rule of Suppress.
func rekeyOne(ctx context.Context, tx RekeyTx, s Suppression) error {
	held, err := tx.Suppression(ctx, s.Hash)
	switch {
	case err == nil && Outranks(held, s):
		confirmed, err := tx.ConfirmedOptIns(ctx, [][]byte{s.Hash})
		if err != nil {
			return err
		}
		if Outdated(s, confirmed[string(s.Hash)]) {
			return nil
		}
		if err := tx.DeleteSuppression(ctx, s.Hash); err != nil {
			return err
		}
	case err != nil && !apperr.Is(err, apperr.NotFound):
		return err
	}
	_, err = Suppress(ctx, tx, s)
	return err
}
