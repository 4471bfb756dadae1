package consent

import (
	"context"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// SuppressTx is what Suppress needs from a store transaction.
type SuppressTx interface {
	// Suppression returns the entry for hash; NotFound when the address is not suppressed.
	Suppression(ctx context.Context, hashes ...[]byte) (Suppression, error)
	// AddSuppression adds an entry; an existing entry for the same hash is kept as it is.
	AddSuppression(ctx context.Context, s Suppression) error
	// PutSuppression sets the entry for s.Hash, replacing the one held.
	PutSuppression(ctx context.Context, s Suppression) error
	// ConfirmedOptIns returns, keyed by string(hash), when the contact holding each listed
	// suppression hash last confirmed a double opt-in; hashes without one are absent.
	ConfirmedOptIns(ctx context.Context, hashes [][]byte) (map[string]time.Time, error)
}

// Outdated reports whether s is older than the person's own confirmed double opt-in at the
// address (confirmed: when they last confirmed one; zero when never). That confirmation is the one
// way back from a suppression (DESIGN §2) and lifted whatever entry was made before it, so an
// entry made before it never applies again: an imported cleaned row whose CLEAN_TIME is older, a
// replayed ledger line of an older bounce or erasure. This is the one rule for "an older
// suppression never beats a later confirmed opt-in"; Suppress and the importer both read it.
func Outdated(s Suppression, confirmed time.Time) bool {
	return !confirmed.IsZero() && s.CreatedAt.Before(confirmed)
}

// Replaces reports whether next replaces held as the suppression list's entry for an address:
// only an erasure replaces an entry of another reason made at or before it. Every other entry
// stands as first made (a later bounce, complaint or erasure replay changes nothing), and so does
// an entry made after the erasure (the address came back by its person's own double opt-in, then
// bounced: that is the new person's). An erasure wins because it is what the address's entry must
// say from then on: staff re-creating the address are refused as erased (409 erased, GDPR Art.
// 17), the person's access bundle and receipts say their data was erased, not that mail bounced.
// Its time is the erasure's: the earlier bounce or complaint was a fact about the erased person,
// which erasure does not keep (Art. 5(1)(c)), and the ledger's --since carries the changed entry.
func Replaces(held, next Suppression) bool {
	return next.Reason == SuppressionErased && held.Reason != SuppressionErased && !held.CreatedAt.After(next.CreatedAt)
}

// Outranks reports whether other, an entry held at the same time as held for the same address
// (the two made under two keys of the blind-index keyset, before and after a rotation of it),
// says what the address is rather than held: an erasure entry does, whatever their times, since
// one still held was never lifted (the person's own confirmed opt-in removes the address's
// entries) and a later bounce or complaint of an erased address does not make it re-creatable
// (GDPR Art. 17). Otherwise held stands.
func Outranks(held, other Suppression) bool {
	return other.Reason == SuppressionErased && held.Reason != SuppressionErased
}

// Suppress puts s on the suppression list by the one rule of Replaces and reports whether the
// list changed: nothing when s is Outdated (the person confirmed a double opt-in at the address
// after it), added when the hash is not on it, replaced when Replaces says so, and otherwise
// kept as it is. Every writer of an entry that may meet an existing one with another reason
// (erasure, its replay, the replay of a suppression line) goes through it; bulk writers of
// bounces and complaints add with AddSuppression, which keeps the first entry, as Replaces does.
func Suppress(ctx context.Context, tx SuppressTx, s Suppression) (bool, error) {
	confirmed, err := tx.ConfirmedOptIns(ctx, [][]byte{s.Hash})
	if err != nil {
		return false, err
	}
	if Outdated(s, confirmed[string(s.Hash)]) {
		return false, nil
	}
	held, err := tx.Suppression(ctx, s.Hash)
	switch {
	case apperr.Is(err, apperr.NotFound):
		return true, tx.AddSuppression(ctx, s)
	case err != nil:
		return false, err
	case Replaces(held, s):
		return true, tx.PutSuppression(ctx, s)
	}
	return false, nil
}
