package ledger

import (
	"context"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// applyByAddress re-applies the choice of a line whose contact the store does not hold (a person
// created after the backup, such as by an import) to the keyed hash of the contact's address the
// line carries, so that a later import or sign-up of that address obeys it:
//   - a withdrawal or refusal for purpose P, and an objection to P: the address left P's list
//     (consent.PurposeUnsubscribe, what an imported unsubscribed row records): no import
//     subscribes it to P again, and the gate reads P as withdrawn (objected, for a purpose not
//     based on consent) until the person's own later consent;
//   - an objection to direct marketing: a suppression, reason objected (GDPR Art. 21(3)): no
//     import re-creates the person, nothing mails them;
//   - a restriction, and an open restriction request: a suppression, reason restricted
//     (consent.SuppressionRestricted; Art. 18);
//   - an open erasure request: a suppression, reason erased (Art. 17): the store holds nothing
//     of the person, which is what erasure leaves, and staff re-creating the address are refused
//     as for an erasure;
//   - and each open erasure or restriction request goes back in the staff queue bound to no
//     contact (Requests.ReplayUnboundRequest), so that it is still answered by its due date
//     (Art. 12(3));
//
// each at the time of the choice, through the consent rules of the live path (an older
// suppression never beats the person's own later confirmed opt-in, consent.Outdated). It reports
// whether the store changed. NotFound, which counts the line not_present, for a line without a
// hash (the old form), a closed request or an open objection or withdrawal request (whose effect
// its own objection or withdrawal line carries once answered), or a purpose the store lacks.
func (r *Replayer) applyByAddress(ctx context.Context, e Entry) (bool, error) {
	notPresent := apperr.New(apperr.NotFound, "contact not found")
	if e.Hash == "" || !byAddress[e.Type] {
		return false, notPresent
	}
	h, err := decodeHash("hash", e.Hash)
	if err != nil {
		return false, err
	}
	left := func(purpose string) (bool, error) {
		return r.Consent.ReplayListUnsubscribe(ctx, consent.PurposeUnsubscribe{Hash: h, Purpose: purpose, At: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC()})
	}
	suppress := func(reason string) (bool, error) {
		at := e.At().UTC()
		if e.Type == TypeRequest {
			at = cmpOr(e.VerifiedAt, e.ReceivedAt).UTC()
		}
		return r.Consent.ReplaySuppression(ctx, consent.Suppression{Hash: h, Reason: reason, CreatedAt: at, RecordedAt: e.At().UTC()})
	}
	switch {
	case e.Type == TypeWithdrawal, e.Type == TypeRefusal:
		return left(e.Purpose)
	case e.Type == TypeObjection && e.Scope == consent.ScopeDirectMarketing:
		return suppress(consent.SuppressionObjected)
	case e.Type == TypeObjection:
		return left(e.Scope)
	case e.Type == TypeRestriction:
		return suppress(consent.SuppressionRestricted)
	case e.Type == TypeRequest && e.ClosedAt.IsZero() && e.RequestType == "restriction":
		return r.openRequest(ctx, e, suppress, consent.SuppressionRestricted)
	case e.Type == TypeRequest && e.ClosedAt.IsZero() && e.RequestType == "erasure":
		return r.openRequest(ctx, e, suppress, consent.SuppressionErased)
	}
	return false, notPresent
}

// openRequest suppresses the address of an open request line's person for reason, then puts the
// request back in the staff queue bound to no contact; it reports whether either changed.
func (r *Replayer) openRequest(ctx context.Context, e Entry, suppress func(string) (bool, error), reason string) (bool, error) {
	a, err := suppress(reason)
	if err != nil {
		return false, err
	}
	b, err := r.Requests.ReplayUnboundRequest(ctx, e.request())
	return a || b, err
}
