package dsr

import (
	"bytes"
	"context"
	"errors"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// Reindex re-indexes up to limit requests with id > after, in id order, under the primary key of
// the blind-index keyset (keys rotate --bidx, after the contacts: contact.Service.Reindex): it
// opens the address of each request that has an address index with the request's own data key
// and stores the address's index made with the primary key where it differs. The record is
// otherwise unchanged (its version and update time too: nothing the requester gave changed). A
// request whose key was destroyed (erased with its contact: ForgetRequest) has no index and is
// read only; one whose key or address does not open is counted lost and left as it is (it was
// unreadable before). One write transaction, with one audit event action on object ("keyset",
// "bidx:<key id>") naming the field read, when any request was read. Next is the cursor of the
// next batch, "" when none was read.
func (s *Service) Reindex(ctx context.Context, after string, limit int, action, object string) (contact.ReindexBatch, error) {
	var b contact.ReindexBatch
	err := s.Store.Update(ctx, func(tx Tx) error {
		b = contact.ReindexBatch{}
		recs, err := tx.ListRequests(ctx, Filter{After: after, Limit: limit})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			b.Next = rec.ID
			b.Read++
			next, ok, err := s.primaryIndex(ctx, tx, rec)
			switch {
			case err != nil:
				return err
			case !ok:
				b.Lost++
			case next != nil && !bytes.Equal(next, rec.EmailIndex):
				rec.EmailIndex = next
				if err := tx.UpdateRequest(ctx, rec); err != nil {
					return err
				}
				b.Reindexed++
			}
		}
		if b.Read == 0 {
			return nil
		}
		ev := audit.New(ctx, s.Now(), action, "keyset", object, "requests.email")
		return tx.AppendAudit(ctx, &ev)
	})
	return b, err
}

// primaryIndex returns the blind index of rec's address under the primary key (nil when rec has
// no address index), and false when its data key or address does not open; an error only from
// the store.
func (s *Service) primaryIndex(ctx context.Context, tx Tx, rec *Record) ([]byte, bool, error) {
	if rec.EmailIndex == nil {
		return nil, true, nil
	}
	addr, err := s.requestAddress(ctx, tx, rec)
	var se errStore
	if errors.As(err, &se) {
		return nil, false, se.err
	}
	if err != nil {
		return nil, false, nil
	}
	idx, err := s.Keys.BlindIndex(keys.IndexEmail, normalize.Version, addr)
	return idx, err == nil, nil
}
