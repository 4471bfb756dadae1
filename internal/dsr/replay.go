package dsr

import (
	"context"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
)

// ReplayNote is the timeline note of a request re-created by tillit ledger replay.
const ReplayNote = "Re-created by tillit ledger replay after a restore from a backup taken before it: the person's message, " +
	"address and the request's details were not in the backup (the ledger carries none). Answer it from the original correspondence."

// ReplayRequest re-applies a verified request the ledger carries (package ledger) to a store
// restored from a backup. r holds the request's id, type, channel, state, contact, received,
// due, extended and closing times; no personal data. An open request the store lacks is
// re-created with its own data key, bound to its contact, in its state and with its due date,
// its timeline noting ReplayNote, audited "request.replay": the gate refuses the contact again
// (erasure_requested, restriction_requested) and the request is back in the queue. A closed
// request the store holds open is closed as the ledger says (completed or rejected, at its time;
// what completing it did, such as the erasure, its own line carries), audited "request.replay".
// False when the store holds the request in that state or closed already. NotFound when the
// store does not hold the contact, or lacks a request that was closed (nothing is left to
// answer; its effect is carried by the erasure, restriction, objection or withdrawal lines).
// Invalid for an unknown type or state, a request not verified (bound to a contact), or one
// the store holds with another type or contact; a request ReplayUnboundRequest re-created bound
// to none, its contact still absent, counts as held with its contact.
func (s *Service) ReplayRequest(ctx context.Context, r Request) (bool, error) {
	if !contains(Types, r.Type) || !contains(Channels, r.Channel) || !contains(States, r.State) || r.ContactID == "" || r.State == StateReceived || r.State == StateVerifying {
		return false, apperr.Invalidf("request_type", "invalid_request", "request: a verified request of a known type, state and channel")
	}
	applied := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		held, err := tx.RequestByID(ctx, r.ID)
		switch {
		case apperr.Is(err, apperr.NotFound) && r.Open():
			if _, err := tx.ContactByID(ctx, r.ContactID); err != nil {
				return err
			}
			applied = true
			return s.recreate(ctx, tx, r, ReplayNote)
		case apperr.Is(err, apperr.NotFound):
			return apperr.New(apperr.NotFound, "closed request not held")
		case err != nil:
			return err
		case held.Type != r.Type || held.ContactID != r.ContactID && !unboundReplayed(ctx, s, tx, held, r):
			return apperr.Invalidf("request_id", "request_mismatch", "request_id: the store holds this request with another type or contact")
		case !held.Open() || r.Open():
			return nil
		}
		applied = true
		held.State, held.CompletedAt = r.State, r.CompletedAt
		_, dk, err := s.load(ctx, tx, held.ID)
		if err != nil {
			return err
		}
		held.UpdatedAt, held.Version = s.Now().UTC(), held.Version+1
		if err := tx.UpdateRequest(ctx, held); err != nil {
			return err
		}
		if err := s.event(ctx, tx, held, dk, string(r.State), ""); err != nil {
			return err
		}
		ev := audit.New(ctx, held.UpdatedAt, "request.replay", "request", held.ID, "state", "completed_at")
		return tx.AppendAudit(ctx, &ev)
	})
	return applied && err == nil, err
}

// recreate inserts an open request the store lacks, with a new data key of its own (committed
// in the same transaction, so the store's reconcile keeps it) and note on its timeline.
func (s *Service) recreate(ctx context.Context, tx Tx, r Request, note string) error {
	dk, wrapped, err := s.Keys.NewDataKey(r.ID, 1)
	if err != nil {
		return err
	}
	now := s.Now().UTC()
	if err := tx.InsertDataKey(ctx, r.ID, 1, wrapped, now); err != nil {
		return err
	}
	r.ReceivedAt, r.DueAt, r.CompletedAt = r.ReceivedAt.UTC(), r.DueAt.UTC(), nil
	rec := &Record{Request: r, KeyVersion: 1, Sealed: map[string][]byte{}, UpdatedAt: now, Version: 1}
	if err := tx.InsertRequest(ctx, rec); err != nil {
		return err
	}
	if err := s.event(ctx, tx, rec, dk, "note", note); err != nil {
		return err
	}
	ev := audit.New(ctx, now, "request.replay", "request", r.ID, "type", "state", "contact_id", "received_at", "due_at")
	return tx.AppendAudit(ctx, &ev)
}
