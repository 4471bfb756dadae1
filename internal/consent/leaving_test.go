package consent_test

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// TestLeaving: what leaving a purpose's list records depends on the purpose's basis only.
func TestLeaving(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    consent.Purpose
		want consent.Leaving
	}{
		{"consent", consent.DefaultPurpose(now), consent.LeaveWithdraw},
		{"direct marketing on legitimate interest", consent.Purpose{LawfulBasis: consent.BasisLegitimateInterest, DirectMarketing: true}, consent.LeaveObject},
		{"legitimate interest, not marketing", consent.Purpose{LawfulBasis: consent.BasisLegitimateInterest}, consent.LeaveNothing},
		{"contract", consent.Purpose{LawfulBasis: consent.BasisContract}, consent.LeaveNothing},
		{"acceptance of terms", consent.TermsPurpose(now), consent.LeaveNothing},
	} {
		if got := tc.p.Leaving(); got != tc.want {
			t.Errorf("%s: Leaving = %d; want %d", tc.name, got, tc.want)
		}
	}
}

// TestImportedUnsubscribeScope: an imported unsubscribe from a purpose's list refuses that
// purpose as a withdrawal until the person's own later consent, and never another purpose.
func TestImportedUnsubscribeScope(t *testing.T) {
	news := consent.DefaultPurpose(now)
	offers := consent.Purpose{ID: "offers", LawfulBasis: consent.BasisConsent}
	liDM := consent.Purpose{ID: "catalogue", LawfulBasis: consent.BasisLegitimateInterest, DirectMarketing: true}
	left := now.Add(-48 * time.Hour)
	before := &consent.Current{State: consent.Given, OccurredAt: left.Add(-time.Hour), LawfulBasis: consent.BasisConsent}
	after := &consent.Current{State: consent.Given, OccurredAt: left.Add(time.Hour), LawfulBasis: consent.BasisConsent}
	for _, tc := range []struct {
		name    string
		p       consent.Purpose
		f       consent.Facts
		allowed bool
		reason  consent.Reason
		state   consent.State
	}{
		{"no state on record: withdrawn", news, consent.Facts{UnsubscribedAt: &left}, false, consent.ReasonWithdrawn, consent.Withdrawn},
		{"consent before the unsubscribe: withdrawn", news, consent.Facts{Current: before, UnsubscribedAt: &left}, false, consent.ReasonWithdrawn, consent.Withdrawn},
		{"the person's consent since: allowed", news, consent.Facts{Current: after, UnsubscribedAt: &left}, true, consent.ReasonConsentGiven, consent.Given},
		{"another purpose's consent stands", offers, consent.Facts{Current: before}, true, consent.ReasonConsentGiven, consent.Given},
		{"direct marketing on legitimate interest: objected", liDM, consent.Facts{UnsubscribedAt: &left}, false, consent.ReasonObjected, ""},
		{"the terms are not a list", consent.Purpose{LawfulBasis: consent.BasisContract}, consent.Facts{UnsubscribedAt: &left}, true, consent.ReasonBasisContract, ""},
	} {
		d := consent.Decide(tc.p, tc.f, now)
		if d.Allowed != tc.allowed || d.Reason != tc.reason || d.State != tc.state {
			t.Errorf("%s: Decide = %+v; want allowed=%v reason=%s state=%s", tc.name, d, tc.allowed, tc.reason, tc.state)
		}
	}
	eff := consent.Facts{Current: before, UnsubscribedAt: &left}.Effective(news)
	if eff == nil || eff.State != consent.Withdrawn || !eff.OccurredAt.Equal(left) || eff.Method != consent.MethodImport {
		t.Errorf("Effective = %+v; want dpv:ConsentWithdrawn by import at the unsubscribe", eff)
	}
}

// TestEventTime: the time rule of every recorded event and imported unsubscribe.
func TestEventTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     time.Time
		want   time.Time
		reason string
	}{
		{"zero is now", time.Time{}, now, ""},
		{"past kept, in UTC", now.Add(-time.Hour).In(time.FixedZone("CET", 3600)), now.Add(-time.Hour), ""},
		{"a clock a little ahead is now", now.Add(consent.ClockSkew / 2), now, ""},
		{"future refused", now.Add(time.Hour), time.Time{}, "in_future"},
		{"before 1990 refused", consent.EarliestEvent.Add(-time.Second), time.Time{}, "too_early"},
	} {
		got, err := consent.EventTime(tc.at, now)
		reason := ""
		if err != nil {
			if e := apperr.As(err); e != nil && e.Field == "occurred_at" {
				reason = e.Reason
			}
		}
		if !got.Equal(tc.want) || reason != tc.reason || (err == nil && got.Location() != time.UTC) {
			t.Errorf("%s: EventTime = %v, %v; want %v, %q", tc.name, got, err, tc.want, tc.reason)
		}
	}
}
