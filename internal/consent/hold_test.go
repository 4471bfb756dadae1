package consent

import (
	"testing"
	"time"
)

// TestHold: the restriction and an open, verified erasure or restriction request each hold the
// contact, the restriction first; Decide refuses with the hold before anything else, even a
// given consent (GDPR Art. 17, 18).
func TestHold(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := Purpose{ID: "newsletter", LawfulBasis: BasisConsent, DirectMarketing: true}
	given := &Current{State: Given, OccurredAt: now.Add(-time.Hour)}
	for _, tc := range []struct {
		f    Facts
		want Reason
	}{
		{Facts{Current: given}, ""},
		{Facts{Current: given, Restricted: true, ErasureRequested: true}, ReasonRestricted},
		{Facts{Current: given, ErasureRequested: true, RestrictionRequested: true, ObjectedDM: true}, ReasonErasureRequested},
		{Facts{Current: given, RestrictionRequested: true, Suppressed: true}, ReasonRestrictionRequested},
	} {
		if got := tc.f.Hold(); got != tc.want {
			t.Errorf("Hold(%+v) = %q; want %q", tc.f, got, tc.want)
		}
		if tc.want == "" {
			continue
		}
		if d := Decide(p, tc.f, now); d.Allowed || d.Reason != tc.want {
			t.Errorf("Decide(%+v) = %+v; want refused, %s", tc.f, d, tc.want)
		}
	}
}
