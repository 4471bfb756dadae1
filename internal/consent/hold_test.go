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

// TestAskOf: a consent-request campaign and the re-permission list ask the lapsed and the
// unanswered, never anyone who agreed, said no or may not be processed; no history is the
// campaign's choice (issue 11: the list named restricted and objected people and missed the
// unanswered).
func TestAskOf(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := Purpose{ID: "tips", LawfulBasis: BasisConsent, DirectMarketing: true, ConsentValidDays: 365}
	cur := func(s State, age time.Duration) *Current { return &Current{State: s, OccurredAt: now.Add(-age)} }
	old := 800 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		f    Facts
		want Ask
	}{
		{"given", Facts{Current: cur(Given, time.Hour)}, AskNot},
		{"refused", Facts{Current: cur(Refused, time.Hour)}, AskNot},
		{"withdrawn", Facts{Current: cur(Withdrawn, time.Hour)}, AskNot},
		{"objected, lapsed", Facts{Current: cur(Given, old), ObjectedDM: true}, AskNot},
		{"restricted, lapsed", Facts{Current: cur(Given, old), Restricted: true}, AskNot},
		{"erasure requested, unanswered", Facts{Current: cur(Requested, time.Hour), ErasureRequested: true}, AskNot},
		{"suppressed, lapsed", Facts{Current: cur(Given, old), Suppressed: true}, AskNot},
		{"requested, unanswered", Facts{Current: cur(Requested, time.Hour)}, AskYes},
		{"expired by age", Facts{Current: cur(Given, old)}, AskYes},
		{"expired", Facts{Current: cur(Expired, time.Hour)}, AskYes},
		{"needs reconsent", Facts{Current: &Current{State: Given, OccurredAt: now.Add(-time.Hour), NeedsReconsent: true}}, AskYes},
		{"no history", Facts{}, AskNoHistory},
	} {
		if got := AskOf(Decide(p, tc.f, now), tc.f); got != tc.want {
			t.Errorf("%s: AskOf = %d; want %d", tc.name, got, tc.want)
		}
	}
}
