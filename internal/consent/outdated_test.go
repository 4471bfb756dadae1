package consent_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
)

// TestOutdated: a suppression made before the person's own confirmed double opt-in at the
// address is outdated; one made at or after it, or with no confirmation on record, is not.
func TestOutdated(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		made, confirmed time.Time
		want            bool
	}{
		{t0, t0.Add(time.Hour), true},  // the bounce, then the way back
		{t0.Add(time.Hour), t0, false}, // bounced again after the confirmation
		{t0, t0, false},                // the same instant: the suppression stands
		{t0, time.Time{}, false},       // never confirmed
		{t0.Add(-time.Hour), t0.Add(time.Hour), true},
	} {
		if got := consent.Outdated(sup("bounced", tc.made), tc.confirmed); got != tc.want {
			t.Errorf("Outdated(made %s, confirmed %s) = %v; want %v", tc.made, tc.confirmed, got, tc.want)
		}
	}
}

// confirmedList is a suppression list whose address's holder confirmed a double opt-in at at.
type confirmedList struct {
	suppressions
	at time.Time
}

func (l confirmedList) ConfirmedOptIns(context.Context, [][]byte) (map[string]time.Time, error) {
	return map[string]time.Time{"h": l.at}, nil
}

// TestSuppressKeepsALaterOptIn: Suppress puts no entry made before the person's confirmed
// double opt-in back on the list (a replayed ledger line, an erasure's replay), and one made
// after it as ever.
func TestSuppressKeepsALaterOptIn(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	l := confirmedList{suppressions{}, t0.Add(time.Hour)}
	for _, reason := range []string{"bounced", "erased", "objected", "restricted"} {
		if changed, err := consent.Suppress(ctx, l, sup(reason, t0)); err != nil || changed || len(l.suppressions) != 0 {
			t.Errorf("Suppress(%s before the confirmation) = %v, %v, list %v; want nothing", reason, changed, err, l.suppressions)
		}
	}
	if changed, err := consent.Suppress(ctx, l, sup("bounced", t0.Add(2*time.Hour))); err != nil || !changed || len(l.suppressions) != 1 {
		t.Errorf("Suppress(bounced after the confirmation) = %v, %v; want added", changed, err)
	}
}
