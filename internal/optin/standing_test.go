package optin

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
)

// TestStandingOf: a sign-up needs the person's confirmation unless consent is given, valid and
// current and the address is not suppressed; a suppression is lifted only by that confirmation
// (DESIGN §2), so an old consent never stands in for it (issue 11).
func TestStandingOf(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := consent.Purpose{ID: "newsletter", LawfulBasis: consent.BasisConsent, DirectMarketing: true, DoubleOptIn: true, ConsentValidDays: 365}
	given := &consent.Current{State: consent.Given, OccurredAt: now.Add(-time.Hour)}
	old := &consent.Current{State: consent.Given, OccurredAt: now.AddDate(-2, 0, 0)}
	reconsent := &consent.Current{State: consent.Given, OccurredAt: now.Add(-time.Hour), NeedsReconsent: true}
	for _, tc := range []struct {
		name string
		f    consent.Facts
		want standing
	}{
		{"no consent", consent.Facts{}, toConfirm},
		{"requested", consent.Facts{Current: &consent.Current{State: consent.Requested}}, toConfirm},
		{"given", consent.Facts{Current: given}, received},
		{"given, suppressed", consent.Facts{Current: given, Suppressed: true}, toConfirm},
		{"no consent, suppressed", consent.Facts{Suppressed: true}, toConfirm},
		{"given long ago", consent.Facts{Current: old}, toConfirm},
		{"given, needs reconsent", consent.Facts{Current: reconsent}, toConfirm},
		{"withdrawn", consent.Facts{Current: &consent.Current{State: consent.Withdrawn}}, toConfirm},
		{"given, objected to direct marketing", consent.Facts{Current: given, ObjectedDM: true}, objectedTo},
		{"objected to the purpose", consent.Facts{ObjectedPurpose: true}, objectedTo},
	} {
		if got := standingOf(p, tc.f, now); got != tc.want {
			t.Errorf("%s: standingOf = %d; want %d", tc.name, got, tc.want)
		}
	}
	if got := standingOf(consent.Purpose{ID: "offers", LawfulBasis: consent.BasisConsent}, consent.Facts{ObjectedDM: true}, now); got != toConfirm {
		t.Errorf("objection to direct marketing, purpose not direct marketing: %d; want toConfirm", got)
	}
}

// TestNoState: an unsubscribe link withdraws; a consent request's link refuses what it asked
// for, or withdraws a consent given since; a "no" on record already records nothing.
func TestNoState(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := consent.Purpose{ID: "tips", LawfulBasis: consent.BasisConsent, ConsentValidDays: 365}
	cur := func(s consent.State, age time.Duration) *consent.Current {
		return &consent.Current{State: s, OccurredAt: now.Add(-age)}
	}
	for _, tc := range []struct {
		name string
		kind LinkKind
		cur  *consent.Current
		want consent.State
	}{
		{"unsubscribe, given", LinkUnsubscribe, cur(consent.Given, time.Hour), consent.Withdrawn},
		{"unsubscribe, withdrawn already", LinkUnsubscribe, cur(consent.Withdrawn, time.Hour), ""},
		{"unsubscribe, none", LinkUnsubscribe, nil, consent.Withdrawn},
		{"refuse, none", LinkRefuse, nil, consent.Refused},
		{"refuse, requested", LinkRefuse, cur(consent.Requested, time.Hour), consent.Refused},
		{"refuse, expired by age", LinkRefuse, cur(consent.Given, 400*24*time.Hour), consent.Refused},
		{"refuse, expired", LinkRefuse, cur(consent.Expired, time.Hour), consent.Refused},
		{"refuse, refused already", LinkRefuse, cur(consent.Refused, time.Hour), ""},
		{"refuse, withdrawn already", LinkRefuse, cur(consent.Withdrawn, time.Hour), ""},
		{"refuse, given since", LinkRefuse, cur(consent.Given, time.Hour), consent.Withdrawn},
	} {
		if got := noState(tc.kind, p, tc.cur, now); got != tc.want {
			t.Errorf("%s: noState = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestHeldNote: every hold of consent.Facts.Hold has its own words, a restriction is not said to
// be the person's own (staff may set it), and the sign-up of a held contact says nothing was
// recorded, whatever its purposes (issue 11: an open erasure request got "You already receive").
func TestHeldNote(t *testing.T) {
	for h, want := range map[consent.Reason]string{
		consent.ReasonRestricted:           "The processing of your data is restricted (GDPR Art. 18), so nothing was recorded for this sign-up: nothing is recorded or sent to you until the restriction is lifted. To have the restriction lifted, write to us: the privacy notice at P says how.",
		consent.ReasonErasureRequested:     "Your request to erase your data (GDPR Art. 17) is open, so nothing was recorded for this sign-up: nothing is recorded or sent to you until it is answered. To withdraw the request, write to us: the privacy notice at P says how.",
		consent.ReasonRestrictionRequested: "Your request to restrict the processing of your data (GDPR Art. 18) is open, so nothing was recorded for this sign-up: nothing is recorded or sent to you until it is answered. To withdraw the request, write to us: the privacy notice at P says how.",
	} {
		pl := signup{hold: h, received: []consent.Purpose{{Name: "Newsletter"}}}
		if got := pl.lines("P"); len(got) != 1 || got[0] != want {
			t.Errorf("%s: lines = %q; want %q", h, got, want)
		}
		if pl.outcome() != OutcomeHeld {
			t.Errorf("%s: outcome %q; want held", h, pl.outcome())
		}
	}
	if (HoldWords("") != Hold{}) {
		t.Errorf("no hold: %+v; want no words", HoldWords(""))
	}
}
