package contact

import (
	"bytes"
	"context"
	"errors"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// ReindexBatch is what one Reindex call did.
type ReindexBatch struct {
	Next      string // the last contact id read: the cursor of the next batch ("" when none was)
	Read      int    // contacts read
	Reindexed int    // contacts whose stored indexes changed
	Lost      int    // contacts whose data key did not open (left as they were)
}

// Reindex re-indexes up to limit contacts with id > after, in id order, under the primary key of
// the blind-index keyset (keys rotate --bidx): it opens each contact's e-mail and phone, and
// stores their blind indexes and the e-mail's suppression hash made with the primary key where
// they differ, and moves the address's suppression entries made with older keys to the new hash
// (consent.Rekey), so that the consent gate, which matches the hash a contact stores, still sees
// them. The record is otherwise unchanged (its version and update time too: nothing the person
// gave changed). One write transaction, with one audit event action on object ("keyset",
// "bidx:<key id>") naming the fields read, when any contact was read: the decrypting reads are
// audited per batch, as the wrap rotation's (no event per contact). A contact written meanwhile
// by a server that uses the primary key already has its indexes under it; one erased is gone.
func (s *Service) Reindex(ctx context.Context, after string, limit int, action, object string) (ReindexBatch, error) {
	var b ReindexBatch
	err := s.Store.Update(ctx, func(tx Tx) error {
		b = ReindexBatch{}
		recs, err := tx.ListContacts(ctx, "", after, limit)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			b.Next = rec.ID
			b.Read++
			changed, err := s.reindexOne(ctx, tx, rec)
			var se storeErr
			if errors.As(err, &se) {
				return se.err
			}
			if err != nil {
				b.Lost++ // its data key or a field does not open: unreadable before, left as it is
				continue
			}
			if changed {
				b.Reindexed++
			}
		}
		if b.Read == 0 {
			return nil
		}
		ev := audit.New(ctx, s.Now(), action, "keyset", object, "contacts.email", "contacts.phone")
		return tx.AppendAudit(ctx, &ev)
	})
	return b, err
}

// reindexOne re-indexes rec (Reindex) and reports whether its stored indexes changed. An error
// that is not the store's means rec could not be opened.
func (s *Service) reindexOne(ctx context.Context, tx Tx, rec *Record) (bool, error) {
	if rec.EmailIndex == nil && rec.PhoneIndex == nil {
		return false, nil
	}
	dk, err := s.dataKey(ctx, tx, rec)
	if err != nil {
		return false, err
	}
	next := *rec
	if rec.EmailIndex != nil {
		email, err := dk.Open(Table, "email", rec.ID, rec.Sealed["email"])
		if err != nil {
			return false, err
		}
		if next.EmailIndexes, err = s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, string(email)); err != nil {
			return false, err
		}
		if next.SuppressionHashes, err = s.Keys.BlindIndexes(keys.IndexSuppression, normalize.Version, string(email)); err != nil {
			return false, err
		}
		next.EmailIndex, next.SuppressionHash = next.EmailIndexes[0], next.SuppressionHashes[0]
	}
	if rec.PhoneIndex != nil {
		phone, err := dk.Open(Table, "phone", rec.ID, rec.Sealed["phone"])
		if err != nil {
			return false, err
		}
		if next.PhoneIndex, err = s.Keys.BlindIndex(keys.IndexPhone, normalize.Version, string(phone)); err != nil {
			return false, err
		}
	}
	changed := !bytes.Equal(next.EmailIndex, rec.EmailIndex) || !bytes.Equal(next.SuppressionHash, rec.SuppressionHash) || !bytes.Equal(next.PhoneIndex, rec.PhoneIndex)
	if changed {
		if err := tx.UpdateContact(ctx, &next); err != nil {
			return false, storeErr{err}
		}
	}
	if err := rekeyAddress(ctx, tx, &next); err != nil {
		return false, storeErr{err}
	}
	return changed, nil
}

// storeErr marks an error of the store in reindexOne: it ends the batch (the transaction is
// rolled back) instead of counting the contact lost.
type storeErr struct{ err error }

func (e storeErr) Error() string { return e.err.Error() }
func (e storeErr) Unwrap() error { return e.err }
