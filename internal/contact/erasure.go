package contact

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// Erase erases the contact (GDPR Art. 17): its data key, index and data rows and consent events
// are deleted, suppression hashes of its e-mail and of every address it had before (reason
// "erased", which replaces an earlier entry's reason: consent.Replaces) are kept so it is never
// mailed again, brought back by an import or re-created by staff unawares (CreateByStaff), the
// id and those hashes go to the erasure ledger, an audit event "contact.erase" is written, and
// the write-ahead logs are checkpointed so no plaintext page survives.
func (s *Service) Erase(ctx context.Context, id string) error {
	return s.erase(ctx, id, s.Now().UTC(), nil, nil)
}

// Guard is a rule of one erasure path, run inside the erasure's transaction once the contact is
// found and before anything changes: an error refuses the erasure and is returned as it is. The
// rule and the erasure see the same state, so nothing the rule looked at can change between the
// two (internal/dsr: staff's direct erasure waits for an open request and a legal hold).
type Guard func(ctx context.Context, tx Tx, rec *Record) error

// EraseGuarded is Erase refused by guard (Guard). NotFound for an unknown contact, before guard.
func (s *Service) EraseGuarded(ctx context.Context, id string, guard Guard) error {
	return s.erase(ctx, id, s.Now().UTC(), nil, guard)
}

// erase is Erase, decided at time at, suppressing the hashes in extra too, refused by guard
// when it is set.
func (s *Service) erase(ctx context.Context, id string, at time.Time, extra [][]byte, guard Guard) error {
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := tx.ContactByID(ctx, id)
		if err != nil {
			return err
		}
		if guard != nil {
			if err := guard(ctx, tx, rec); err != nil {
				return err
			}
		}
		hashes, idx, err := s.addressHashes(ctx, tx, rec)
		if err != nil {
			return err
		}
		for _, h := range extra {
			if !slices.ContainsFunc(hashes, func(g []byte) bool { return bytes.Equal(g, h) }) {
				hashes = append(hashes, h)
			}
		}
		if err := suppressErased(ctx, tx, hashes, at); err != nil {
			return err
		}
		if s.Erasing != nil {
			if err := s.Erasing(ctx, tx, id, idx); err != nil {
				return err
			}
		}
		if err := tx.DeleteDataKey(ctx, id); err != nil {
			return err
		}
		if err := tx.DeleteContact(ctx, id); err != nil {
			return err
		}
		if err := tx.AppendErasure(ctx, id, at, hashes); err != nil {
			return err
		}
		now := s.Now().UTC()
		if err := tx.AppendConsentChanges(ctx, []consent.Change{{ContactID: id, Change: "erased", OccurredAt: at, RecordedAt: now}}); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "contact.erase", "contact", id)
		return tx.AppendAudit(ctx, &ev)
	})
	if err != nil {
		return err
	}
	s.Keys.Forget(id)
	if s.AfterErase != nil {
		if err := s.AfterErase(ctx, id); err != nil {
			return err
		}
	}
	return s.Store.Purge(ctx)
}

// addressHashes returns the suppression hashes of rec's current e-mail address (first, when it
// has one) and of every address it had before, and the current address's e-mail blind indexes
// under every key of the blind-index keyset, primary first (keys.Keyring.BlindIndexes; nil
// without an address).
func (s *Service) addressHashes(ctx context.Context, tx Tx, rec *Record) (hashes, idx [][]byte, err error) {
	if rec.EmailIndex != nil {
		dk, err := s.dataKey(ctx, tx, rec)
		if err != nil {
			return nil, nil, err
		}
		email, err := dk.Open(Table, "email", rec.ID, rec.Sealed["email"])
		if err != nil {
			return nil, nil, fmt.Errorf("contact: erase: %w", err)
		}
		h, err := s.Keys.BlindIndex(keys.IndexSuppression, normalize.Version, string(email))
		if err != nil {
			return nil, nil, err
		}
		hashes = append(hashes, h)
		if idx, err = s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, string(email)); err != nil {
			return nil, nil, err
		}
	}
	former, err := tx.FormerEmails(ctx, rec.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range former {
		if !slices.ContainsFunc(hashes, func(g []byte) bool { return bytes.Equal(g, h) }) {
			hashes = append(hashes, h)
		}
	}
	return hashes, idx, nil
}

// suppressErased puts every hash on the suppression list with reason "erased" at time at (made
// and recorded then: the ledger's erasure time, on replay). Erasure
// is the reason that wins (consent.Replaces): an entry of another reason made before it (a
// bounce, a complaint) becomes reason "erased" at time at; an entry erased already keeps its time.
func suppressErased(ctx context.Context, tx Tx, hashes [][]byte, at time.Time) error {
	for _, h := range hashes {
		if _, err := consent.Suppress(ctx, tx, consent.Suppression{Hash: h, Reason: consent.SuppressionErased, CreatedAt: at, RecordedAt: at}); err != nil {
			return err
		}
	}
	return nil
}

// ReplayErasure re-applies an erasure the ledger carries (package ledger, tillit ledger replay)
// to a store restored from a backup, so a restore never undoes an erasure (GDPR Art. 17; DESIGN
// §4). A contact the store holds is erased as Erase does, at the ledger's time, with the ledger's
// suppression hashes suppressed too. For a contact the store does not hold (erased before the
// backup, or created after it) the hashes go on the suppression list (reason "erased") and the id
// to the erasure ledger, audited "contact.erase", so no import brings the person back and the
// next export still carries the erasure. True when it erased the contact or put hashes back;
// false when the erasure ledger holds the id already; NotFound when the store holds neither the
// contact nor its erasure and the line carries no hashes (the old form: the id is recorded,
// nothing is put back), so the replay's counts say applied only when a restore's loss is undone.
func (s *Service) ReplayErasure(ctx context.Context, id string, at time.Time, hashes [][]byte) (bool, error) {
	for _, h := range hashes {
		if len(h) != keys.IndexSize {
			return false, apperr.Invalidf("suppression_hashes", "invalid_hash", "suppression_hashes: each a keyed hash of %d bytes", keys.IndexSize)
		}
	}
	switch err := s.erase(ctx, id, at, hashes, nil); {
	case err == nil:
		return true, nil
	case !apperr.Is(err, apperr.NotFound):
		return false, err
	}
	applied := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		if done, err := tx.ErasureRecorded(ctx, id); err != nil || done {
			return err
		}
		if err := suppressErased(ctx, tx, hashes, at); err != nil {
			return err
		}
		if err := tx.AppendErasure(ctx, id, at, hashes); err != nil {
			return err
		}
		applied = true
		ev := audit.New(ctx, s.Now().UTC(), "contact.erase", "contact", id, "erasure_ledger", "suppressions")
		return tx.AppendAudit(ctx, &ev)
	})
	if applied && err == nil && len(hashes) == 0 {
		return false, apperr.New(apperr.NotFound, "contact not held, no suppression hashes to put back")
	}
	return applied && err == nil, err
}
