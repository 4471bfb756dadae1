package dsr

import (
	"context"
	"fmt"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/token"
)

// The fine permission rules of data subject requests. Each is read from the actor in the
// context (token.Permits) inside the transaction that does the work, so the API, the console and
// Tillit's own jobs meet the same rule and nothing it looked at can change before the write; the
// API's route table checks only the coarse permission of a route (requests.write, contacts.erase).

// CloseNeeds is the permission closing a request of a type (completing or rejecting it) needs
// beyond requests.write: an erasure or a restriction acts on the contact as erasing or
// restricting it directly does, and refusing one is the same decision, so a role that may not do
// those may not close such a request either.
var CloseNeeds = map[Type]token.Permission{TypeErasure: token.ContactsErase, TypeRestriction: token.ContactsRestrict}

// mayClose refuses, as a Forbidden error (reason role_forbidden) naming the permission, to let
// the actor in ctx (token.Permits) complete or reject a request of type t (CloseNeeds). Tillit's
// own jobs and local commands may; a public visitor's automatic completion (VerifyLink) is of a
// type that needs nothing.
func mayClose(ctx context.Context, t Type) error {
	perm, ok := CloseNeeds[t]
	if !ok {
		return nil
	}
	if role, ok := token.Permits(ctx, perm); !ok {
		return &apperr.Error{Kind: apperr.Forbidden, Reason: "role_forbidden", Message: fmt.Sprintf("the %s role may not complete or reject a %s request (needs %s)", role, t, perm)}
	}
	return nil
}

// mayComplete is mayClose for completing rec, read in the completion's first transaction
// (prepare) before anything changes; besides, correcting a restricted contact through a
// rectification is for an actor that may restrict (contact.CheckRectify, which
// contact.Service.Rectify applies again on the record it changes).
func mayComplete(ctx context.Context, tx Tx, rec *Record) error {
	if err := mayClose(ctx, rec.Type); err != nil {
		return err
	}
	if rec.Type != TypeRectification || rec.ContactID == "" {
		return nil
	}
	crec, err := tx.ContactByID(ctx, rec.ContactID)
	if apperr.Is(err, apperr.NotFound) {
		return nil // erased meanwhile: the completion answers that no data is held
	}
	if err != nil {
		return err
	}
	return contact.CheckRectify(ctx, crec)
}

// mayVerifyOtherAddress refuses to let the actor in ctx bind a request to a contact whose address
// on file is not the request's (VerifyOtherAddress) unless it may restrict (token.ContactsRestrict:
// admin, dpo): a request reaches only the records of verified identifiers (GDPR Art. 12(6)), and
// one agent alone should not be able to hand a stranger someone else's data. Forbidden, field
// confirm_other_address (the API's and the console's input), reason role_forbidden. The rule
// reads the actor alone, no stored state, so it is checked before the input is.
func mayVerifyOtherAddress(ctx context.Context) error {
	if role, ok := token.Permits(ctx, token.ContactsRestrict); !ok {
		return &apperr.Error{Kind: apperr.Forbidden, Field: "confirm_other_address", Reason: "role_forbidden",
			Message: "confirm_other_address: the " + string(role) + " role may not bind a request to a contact with another address (needs contacts.restrict)"}
	}
	return nil
}

// mayExport refuses a staff export (Export) to an actor that may not read the audit log
// (token.AuditRead: admin, dpo, auditor): the bundle carries the audit events about the person,
// and a role that may not read them may not take them out in a zip either. Forbidden, reason
// role_forbidden.
func mayExport(ctx context.Context) error {
	if role, ok := token.Permits(ctx, token.AuditRead); !ok {
		return &apperr.Error{Kind: apperr.Forbidden, Reason: "role_forbidden", Message: "the " + string(role) + " role may not export a contact (the bundle holds audit events; needs audit.read)"}
	}
	return nil
}

// EraseContact erases the contact at staff's own decision (DELETE /api/v1/contacts/{id}; GDPR
// Art. 17) as contact.Service.Erase does, refused inside the erasure's transaction
// (contact.Guard), so a hold or a request that arrives meanwhile is seen:
//
//   - Conflict, reason legal_hold, while the contact is under legal hold (the data is needed for
//     legal claims, GDPR Art. 17(3)(e): lift the hold first);
//   - Conflict, reason open_erasure_request, ID the request's, while an erasure request bound to
//     the contact is open: completing it erases the same data and gives the person the receipt
//     and the notice this path would skip;
//   - Conflict, reason open_request, ID the request's, while another request bound to the contact
//     is open: answer or reject it first, or it ends unanswered.
//
// NotFound for an unknown contact. Who may erase is the route's permission (contacts.erase);
// completing an erasure request, retention and ledger replay erase by their own paths.
func (s *Service) EraseContact(ctx context.Context, contactID string) error {
	return s.Contacts.EraseGuarded(ctx, contactID, func(ctx context.Context, ctTx contact.Tx, _ *contact.Record) error {
		tx, ok := ctTx.(Tx)
		if !ok {
			return fmt.Errorf("dsr: erasing %s: the store transaction does not hold requests", contactID)
		}
		return mayEraseDirectly(ctx, tx, contactID)
	})
}

// mayEraseDirectly is EraseContact's rule, read in tx.
func mayEraseDirectly(ctx context.Context, tx Tx, contactID string) error {
	hold, err := tx.LegalHold(ctx, contactID)
	if err != nil {
		return err
	}
	if hold {
		return errLegalHold
	}
	reqs, err := tx.RequestsByContact(ctx, contactID)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if r.Type == TypeErasure && r.Open() {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "open_erasure_request", ID: r.ID,
				Message: "the person's erasure request " + r.ID + " is open: complete it (POST /api/v1/requests/" + r.ID + "/complete), so the person gets the erasure receipt"}
		}
	}
	for _, r := range reqs {
		if r.Open() {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "open_request", ID: r.ID,
				Message: "the person's " + string(r.Type) + " request " + r.ID + " is open: answer or reject it first, or it would end unanswered"}
		}
	}
	return nil
}

// errLegalHold refuses to erase a contact under legal hold.
var errLegalHold = &apperr.Error{Kind: apperr.Conflict, Reason: "legal_hold",
	Message: "the contact is under legal hold (its data is needed for legal claims, GDPR Art. 17(3)(e)): lift the hold first (DELETE /api/v1/contacts/{id}/legal-hold), or reject an erasure request citing the exemption"}
