package dsr

import (
	"context"

	"github.com/tillit/tillit/internal/apperr"
)

// ReplayUnboundNote is the timeline note of a request re-created by tillit ledger replay for a
// person the restored backup lacks (ReplayUnboundRequest).
const ReplayUnboundNote = "Re-created by tillit ledger replay after a restore from a backup taken before it: the person is not in the backup, " +
	"and their address is suppressed, so nothing is mailed to or done with it. Their message, address and the request's details were " +
	"not in the backup (the ledger carries none): answer them from the original correspondence by the due date (GDPR Art. 12(3))."

// ReplayUnboundRequest re-creates an open, verified erasure or restriction request of a person
// the restored store does not hold (the ledger line's contact is absent; package ledger calls it
// after suppressing the address): staff must still answer it by its due date (GDPR Art. 12(3)).
// r is as for ReplayRequest; the request is inserted bound to no contact (as one whose verified
// address reached no one, which completing answers "we hold no personal data"), in its state
// and with its received and due times, ReplayUnboundNote on its timeline, audited
// "request.replay". False when the store holds it already so. NotFound for a closed request or
// another type (nothing to answer, or its effect carried by its own lines), and when the store
// holds the contact (ReplayRequest re-creates it bound). Invalid as for ReplayRequest, and when
// the store holds the request bound or with another type.
func (s *Service) ReplayUnboundRequest(ctx context.Context, r Request) (bool, error) {
	if !contains(Types, r.Type) || !contains(Channels, r.Channel) || !contains(States, r.State) || r.ContactID == "" || r.State == StateReceived || r.State == StateVerifying {
		return false, apperr.Invalidf("request_type", "invalid_request", "request: a verified request of a known type, state and channel")
	}
	if !r.Open() || (r.Type != TypeErasure && r.Type != TypeRestriction) {
		return false, apperr.New(apperr.NotFound, "no open erasure or restriction request")
	}
	applied := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		held, err := tx.RequestByID(ctx, r.ID)
		switch {
		case err == nil && held.Type == r.Type && held.ContactID == "":
			return nil
		case err == nil:
			return apperr.Invalidf("request_id", "request_mismatch", "request_id: the store holds this request with another type or contact")
		case !apperr.Is(err, apperr.NotFound):
			return err
		case s.holdsContact(ctx, tx, r.ContactID):
			return apperr.New(apperr.NotFound, "the store holds the contact")
		}
		applied = true
		r.ContactID = ""
		return s.recreate(ctx, tx, r, ReplayUnboundNote)
	})
	return applied && err == nil, err
}

// holdsContact reports whether the store holds contact id (a read error counts as held, so the
// caller takes the bound path and meets the error there).
func (s *Service) holdsContact(ctx context.Context, tx Tx, id string) bool {
	_, err := tx.ContactByID(ctx, id)
	return !apperr.Is(err, apperr.NotFound)
}

// unboundReplayed reports whether held is r re-created unbound by ReplayUnboundRequest, its
// person still not in the store: the ledger's later line about it closes it as for a bound one.
func unboundReplayed(ctx context.Context, s *Service, tx Tx, held *Record, r Request) bool {
	return held.ContactID == "" && held.Type == r.Type && !s.holdsContact(ctx, tx, r.ContactID)
}
