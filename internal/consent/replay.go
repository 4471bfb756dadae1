package consent

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/keys"
)

// The Replay methods re-apply, to a store restored from a backup, the choices the ledger
// (package ledger, tillit ledger replay) carries, through the same rules, change stream and
// audit events as the live path. Each reports whether it changed the store: false when the store
// holds the choice already, so a second replay changes nothing. A restore never undoes a
// person's choice (GDPR Art. 7(3), 17, 18, 21).

// replayNote is the evidence of a replayed event whose sealed evidence this store cannot open.
const replayNote = "restored from the ledger by tillit ledger replay; the evidence recorded with this event was sealed under a key of the person this copy does not hold"

// ReplayEvent appends a withdrawal or refusal, as it was recorded (same event id, times,
// method, actor, policy versions, notice hash and sealed evidence), to the consent record of a
// contact the store holds. It becomes the current state when it supersedes the one on record
// (Supersedes: a later consent in the restored record stays current), processors are told, and
// it is audited "consent.record" by the caller's actor. False when the contact's record holds the
// event id already. NotFound when the store holds no such contact or purpose; Invalid for another
// state or a method that cannot record it. Evidence sealed under a data key the store does not
// hold is replaced by a note saying so, sealed under the contact's key, so the record stays
// readable.
func (s *Service) ReplayEvent(ctx context.Context, e Event, sealed []byte) (bool, error) {
	if e.State != Withdrawn && e.State != Refused {
		return false, apperr.Invalidf("state", "invalid_state", "state: the ledger carries withdrawals and refusals only")
	}
	if err := CheckMethod(e.Method, e.State); err != nil {
		return false, err
	}
	if e.PolicyVersions == nil {
		e.PolicyVersions = map[string]string{}
	}
	applied := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.ConsentEventByID(ctx, e.ContactID, e.ID); err == nil {
			return nil
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		version, wrapped, err := tx.DataKey(ctx, e.ContactID)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.NotFound, "contact not found")
		}
		if err != nil {
			return err
		}
		p, err := tx.PurposeByID(ctx, e.Purpose)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.NotFound, "purpose not found")
		}
		if err != nil {
			return err
		}
		dk, err := s.Keys.OpenDataKey(e.ContactID, version, wrapped)
		if err != nil {
			return err
		}
		evidence, err := readableEvidence(dk, e.ID, sealed)
		if err != nil {
			return err
		}
		if err := tx.InsertConsentEvent(ctx, &e, evidence); err != nil {
			return err
		}
		ps, err := s.policyState(ctx, tx)
		if err != nil {
			return err
		}
		if err := s.project(ctx, tx, p, e, ps); err != nil {
			return err
		}
		ev := audit.New(ctx, s.Now().UTC(), "consent.record", "contact", e.ContactID, "consent."+string(e.State))
		ev.Purpose = e.Purpose
		applied = true
		return tx.AppendAudit(ctx, &ev)
	})
	return applied && err == nil, err
}

// readableEvidence returns sealed when dk opens it for event id, and otherwise replayNote sealed
// under dk.
func readableEvidence(dk *keys.DataKey, id string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	if _, err := dk.Open(EventTable, "evidence", id, sealed); err == nil {
		return sealed, nil
	}
	plain, err := json.Marshal(Evidence{Note: replayNote})
	if err != nil {
		return nil, err
	}
	return dk.Seal(EventTable, "evidence", id, plain)
}

// ReplayObjection records an objection (GDPR Art. 21) as it was recorded (scope, method, times
// and actor) for a contact the store holds, with an "objected" change and an audit event
// "consent.object" by the caller's actor. The scope's purpose need not exist in the store: the
// person objected, and the gate honours it should the purpose come back. False when the contact
// objected to the scope already. NotFound when the store holds no such contact; Invalid for a
// malformed scope or an unknown method.
func (s *Service) ReplayObjection(ctx context.Context, o Objection) (bool, error) {
	if o.Scope != ScopeDirectMarketing && !ValidID(o.Scope) {
		return false, apperr.Invalidf("scope", "invalid_scope", "scope: a purpose id or direct_marketing")
	}
	if !contains(Methods, o.Method) {
		return false, apperr.Invalidf("method", "invalid_method", "method: must be one of %s", MethodList())
	}
	var applied bool
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		applied, err = s.setObjection(ctx, tx, o)
		return err
	})
	return applied && err == nil, err
}

// ReplaySuppression puts a suppression entry (a keyed hash as stored, its reason and time) on the
// list by the rule of Suppress: added when the hash is not on it, and an entry of reason erased
// replaces one of another reason made before it (Replaces); otherwise the entry held stays. A
// contact that has the address gets a "suppressed" change for processors, as a bounce report
// gives. False when the list did not change. Invalid for a hash that is not keys.IndexSize bytes
// or an unknown reason.
// Like a bounce report, one entry writes no audit event of its own: the caller audits the batch
// (no audit event names an address or its hash).
func (s *Service) ReplaySuppression(ctx context.Context, sup Suppression) (bool, error) {
	if len(sup.Hash) != keys.IndexSize {
		return false, apperr.Invalidf("hash", "invalid_hash", "hash: a keyed hash of %d bytes", keys.IndexSize)
	}
	if !slices.Contains(SuppressionReasons, sup.Reason) {
		return false, apperr.Invalidf("reason", "invalid_reason", "reason: must be one of %s", strings.Join(SuppressionReasons, ", "))
	}
	applied := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		if applied, err = Suppress(ctx, tx, sup); err != nil || !applied {
			return err
		}
		id, _, err := tx.ContactBySuppressionHash(ctx, sup.Hash)
		if err != nil || id == "" {
			return err
		}
		return tx.AppendConsentChanges(ctx, []Change{{ContactID: id, Change: "suppressed", OccurredAt: sup.CreatedAt, RecordedAt: s.Now().UTC()}})
	})
	return applied && err == nil, err
}

// ReplayListUnsubscribe records that an address left one purpose's list, as the ledger carries
// it (PurposeUnsubscribe: the keyed hash, the purpose, when the person left and when an import
// recorded it), so that no import subscribes the address to that purpose again and the gate
// reads it as that purpose's withdrawal (Facts.Effective; an objection, for a purpose not based
// on consent). It concerns that purpose only (Purpose.Leaving). A contact that has the address,
// and for which the gate now reads the purpose differently, gets a "withdrawn" (or "objected")
// change for processors. False when the store holds the address's unsubscribe from that list
// already, whatever its time. NotFound when the store holds no such purpose; Invalid for a hash
// that is not keys.IndexSize bytes or a malformed purpose id. Like a suppression, one entry
// writes no audit event of its own: the caller audits the batch.
func (s *Service) ReplayListUnsubscribe(ctx context.Context, u PurposeUnsubscribe) (bool, error) {
	if len(u.Hash) != keys.IndexSize {
		return false, apperr.Invalidf("hash", "invalid_hash", "hash: a keyed hash of %d bytes", keys.IndexSize)
	}
	if !ValidID(u.Purpose) {
		return false, apperr.Invalidf("purpose", "invalid_purpose", "purpose: 1 to 64 lower-case letters, digits and '-'")
	}
	applied := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		applied, err = s.ListUnsubscribeIn(ctx, tx, u)
		return err
	})
	return applied && err == nil, err
}

// ListUnsubscribeIn is ReplayListUnsubscribe inside the caller's transaction, for a u already
// checked (a hash of keys.IndexSize bytes, a valid purpose id): it records that u's address left
// u.Purpose's list unless the store holds that already, with the change for processors.
// NotFound when the store holds no such purpose.
func (s *Service) ListUnsubscribeIn(ctx context.Context, tx Tx, u PurposeUnsubscribe) (bool, error) {
	p, err := tx.PurposeByID(ctx, u.Purpose)
	if apperr.Is(err, apperr.NotFound) {
		return false, apperr.New(apperr.NotFound, "purpose not found")
	} else if err != nil {
		return false, err
	}
	if _, err := tx.PurposeUnsubscribedAt(ctx, [][]byte{u.Hash}, u.Purpose); err == nil {
		return false, nil
	} else if !apperr.Is(err, apperr.NotFound) {
		return false, err
	}
	if err := tx.AddPurposeUnsubscribes(ctx, []PurposeUnsubscribe{u}); err != nil {
		return false, err
	}
	return true, s.listUnsubscribeChange(ctx, tx, p, u)
}

// listUnsubscribeChange appends, for the contact that has u's address (if any), the change the
// gate now reads for p: "objected" for a purpose not based on consent that is direct marketing,
// "withdrawn" when the unsubscribe supersedes the consent state on record.
func (s *Service) listUnsubscribeChange(ctx context.Context, tx Tx, p Purpose, u PurposeUnsubscribe) error {
	id, _, err := tx.ContactBySuppressionHash(ctx, u.Hash)
	if err != nil || id == "" {
		return err
	}
	change := "objected"
	switch p.Leaving() {
	case LeaveNothing:
		return nil
	case LeaveWithdraw:
		var cur *Current
		if c, err := tx.CurrentConsent(ctx, id, p.ID); err == nil {
			cur = &c
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		eff := Facts{Current: cur, UnsubscribedAt: &u.At}.Effective(p)
		if eff == cur || cur != nil && cur.State == eff.State {
			return nil
		}
		change = changeName(Withdrawn)
	}
	return tx.AppendConsentChanges(ctx, []Change{{ContactID: id, Purpose: p.ID, Change: change, OccurredAt: u.At, RecordedAt: s.Now().UTC()}})
}
