package optin

import (
	"context"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// withdrawByAddress records the "no" of link l, whose contact the store does not hold, by the
// address hash the link carries (Link.Hash): the contact was erased, or the mail was sent after
// the backup the store was restored from, and an import may have created the person again under
// another id. A contact holding the address now gets the link's "no" as its own (withdrawIn);
// with none, the address leaves the purpose's list (consent.PurposeUnsubscribe, as an imported
// unsubscribed row and tillit ledger replay record it; for a refusal link the same), so no
// import subscribes it again and the gate reads the purpose as withdrawn. ok is true when the
// person is off the purpose's list; false, recording nothing, for a link without a hash
// (nothing is known of the address), a purpose gone or one a person does not leave, and an
// address erased (erasedAddress: the link of an erased person is not valid, as live).
func (u *Unsubscribe) withdrawByAddress(ctx context.Context, tx UnsubscribeTx, l Link, ip, userAgent string, gpc bool) (ok bool, err error) {
	if l.Hash == nil {
		return false, nil
	}
	if id, _, err := tx.ContactBySuppressionHash(ctx, l.Hash); err != nil && !apperr.Is(err, apperr.NotFound) {
		return false, err
	} else if id != "" && id != l.ContactID {
		l.ContactID, l.Hash = id, nil
		return u.withdrawIn(ctx, tx, l, ip, userAgent, gpc)
	}
	p, err := tx.PurposeByID(ctx, l.Purpose)
	if apperr.Is(err, apperr.NotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if p.Leaving() == consent.LeaveNothing {
		return false, nil
	}
	if erased, err := erasedAddress(ctx, tx, l.Hash); erased || err != nil {
		return false, err
	}
	now := u.Now().UTC()
	_, err = u.Consent.ListUnsubscribeIn(ctx, tx, consent.PurposeUnsubscribe{Hash: l.Hash, Purpose: p.ID, At: now, RecordedAt: now})
	return err == nil, err
}

// erasedAddress reports whether the address of hash is suppressed with reason erased: its person
// was erased (or, after a restore, had an erasure request open), nothing of them is held, and
// their links say they are not valid.
func erasedAddress(ctx context.Context, tx UnsubscribeTx, hash []byte) (bool, error) {
	reason, err := tx.SuppressionReason(ctx, hash)
	if apperr.Is(err, apperr.NotFound) {
		return false, nil
	}
	return err == nil && reason == consent.SuppressionErased, err
}
