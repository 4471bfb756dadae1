package dsr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// The blind-index keyset may hold several keys (after keys rotate --bidx): a request's stored
// address index is made with the key primary when it came in, and a contact's with the key
// primary when it was last written or re-indexed, so until both are re-indexed (Reindex,
// contact.Service.Reindex) a request and its person's contact may be indexed under different
// keys. So every comparison of a request's address with a contact's, and every lookup of
// requests by an address, takes the address's index under each key of the set
// (keys.Keyring.BlindIndexes) rather than one stored value: the request's address is opened
// with its own data key (addressIndexes), a contact's is the one its erasure or export opens.

// requestAddress opens rec's sealed address with the request's own data key. A store error
// reading the key is returned as errStore; any other error means the request's key or address
// does not open (destroyed, or unreadable).
func (s *Service) requestAddress(ctx context.Context, tx Tx, rec *Record) (string, error) {
	if len(rec.Sealed[colEmail]) == 0 {
		return "", apperr.New(apperr.NotFound, "the request has no address")
	}
	version, wrapped, err := tx.DataKey(ctx, rec.ID)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return "", errStore{err}
	}
	if err != nil {
		return "", err
	}
	dk, err := s.Keys.OpenDataKey(rec.ID, version, wrapped)
	if err != nil {
		return "", err
	}
	b, err := dk.Open(Table, colEmail, rec.ID, rec.Sealed[colEmail])
	if err != nil {
		return "", fmt.Errorf("dsr: request %s: %w", rec.ID, err)
	}
	return string(b), nil
}

// addressIndexes returns the candidates for rec's stored address index: its address's index
// under every key of the blind-index keyset, primary first, and the stored one after them when
// it is not among them; the stored one alone when the address does not open (nil when rec has
// no index). An error only from the store.
func (s *Service) addressIndexes(ctx context.Context, tx Tx, rec *Record) ([][]byte, error) {
	if rec.EmailIndex == nil {
		return nil, nil
	}
	stored := [][]byte{rec.EmailIndex}
	addr, err := s.requestAddress(ctx, tx, rec)
	var se errStore
	if errors.As(err, &se) {
		return nil, se.err
	}
	if err != nil {
		return stored, nil
	}
	all, err := s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, addr)
	if err != nil {
		return stored, nil
	}
	if !slices.ContainsFunc(all, func(i []byte) bool { return bytes.Equal(i, rec.EmailIndex) }) {
		all = append(all, rec.EmailIndex)
	}
	return all, nil
}

// errStore marks an error of the store in requestAddress: it ends the transaction instead of
// counting the request's address unreadable.
type errStore struct{ err error }

func (e errStore) Error() string { return e.err.Error() }
func (e errStore) Unwrap() error { return e.err }

// sameAddress reports whether the contact crec holds the address of the request rec: the
// contact's stored index is the request's address's index under one of the keys
// (addressIndexes). False when either has no address.
func (s *Service) sameAddress(ctx context.Context, tx Tx, rec *Record, crec *contact.Record) (bool, error) {
	if rec.EmailIndex == nil || crec.EmailIndex == nil {
		return false, nil
	}
	idx, err := s.addressIndexes(ctx, tx, rec)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(idx, func(i []byte) bool { return bytes.Equal(i, crec.EmailIndex) }), nil
}
