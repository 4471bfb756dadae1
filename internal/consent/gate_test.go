package consent_test

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
)

// TestDecideEveryReason gives the gate's answer for every state and fact, one row per reason.
func TestDecideEveryReason(t *testing.T) {
	news := consent.DefaultPurpose(now)
	news.ConsentValidDays = 365
	li := consent.Purpose{ID: "sales-followup", Name: "Sales follow-up", LawfulBasis: consent.BasisLegitimateInterest}
	liDM := li
	liDM.DirectMarketing = true
	cur := func(state consent.State, at time.Time) *consent.Current {
		return &consent.Current{State: state, OccurredAt: at, LawfulBasis: consent.BasisConsent}
	}
	given := cur(consent.Given, now.Add(-24*time.Hour))
	reconsent := cur(consent.Given, now.Add(-24*time.Hour))
	reconsent.NeedsReconsent = true
	for _, tc := range []struct {
		name    string
		p       consent.Purpose
		f       consent.Facts
		allowed bool
		reason  consent.Reason
	}{
		{"given", news, consent.Facts{Current: given}, true, consent.ReasonConsentGiven},
		{"no state", news, consent.Facts{}, false, consent.ReasonNoConsent},
		{"requested only", news, consent.Facts{Current: cur(consent.Requested, now)}, false, consent.ReasonNoConsent},
		{"withdrawn", news, consent.Facts{Current: cur(consent.Withdrawn, now)}, false, consent.ReasonWithdrawn},
		{"refused", news, consent.Facts{Current: cur(consent.Refused, now)}, false, consent.ReasonRefused},
		{"expired by event", news, consent.Facts{Current: cur(consent.Expired, now)}, false, consent.ReasonExpired},
		{"expired by validity", news, consent.Facts{Current: cur(consent.Given, now.AddDate(-1, 0, 0))}, false, consent.ReasonExpired},
		{"one day before expiry", news, consent.Facts{Current: cur(consent.Given, now.AddDate(-1, 0, 1))}, true, consent.ReasonConsentGiven},
		{"needs re-consent", news, consent.Facts{Current: reconsent}, false, consent.ReasonNeedsReconsent},
		{"pending staff approval", news, consent.Facts{PendingApproval: true}, false, consent.ReasonPendingApproval},
		{"pending approval after a withdrawal", news, consent.Facts{Current: cur(consent.Withdrawn, now), PendingApproval: true}, false, consent.ReasonPendingApproval},
		{"an approved consent beats a pending one", news, consent.Facts{Current: given, PendingApproval: true}, true, consent.ReasonConsentGiven},
		{"suppressed beats given", news, consent.Facts{Current: given, Suppressed: true}, false, consent.ReasonSuppressed},
		{"restricted beats everything", news, consent.Facts{Current: given, Restricted: true, Suppressed: true}, false, consent.ReasonRestricted},
		{"a verified erasure request stops a given consent", news, consent.Facts{Current: given, ErasureRequested: true}, false, consent.ReasonErasureRequested},
		{"a verified erasure request stops a contract too", consent.Purpose{LawfulBasis: consent.BasisContract}, consent.Facts{ErasureRequested: true}, false, consent.ReasonErasureRequested},
		{"a verified restriction request stops a given consent", news, consent.Facts{Current: given, RestrictionRequested: true}, false, consent.ReasonRestrictionRequested},
		{"a verified restriction request stops legitimate interest", li, consent.Facts{RestrictionRequested: true}, false, consent.ReasonRestrictionRequested},
		{"an erasure request beats a restriction request, an objection and suppression", news,
			consent.Facts{Current: given, ErasureRequested: true, RestrictionRequested: true, ObjectedDM: true, Suppressed: true}, false, consent.ReasonErasureRequested},
		{"the restriction proper beats a request", news, consent.Facts{Current: given, Restricted: true, ErasureRequested: true}, false, consent.ReasonRestricted},
		{"objection to the purpose", news, consent.Facts{Current: given, ObjectedPurpose: true}, false, consent.ReasonObjected},
		{"objection to direct marketing", news, consent.Facts{Current: given, ObjectedDM: true}, false, consent.ReasonObjected},
		{"legitimate interest", li, consent.Facts{}, true, consent.ReasonBasisLegitimate},
		{"objection beats legitimate interest", li, consent.Facts{ObjectedPurpose: true}, false, consent.ReasonObjected},
		{"direct-marketing objection is absolute (Art. 21(3))", liDM, consent.Facts{ObjectedDM: true}, false, consent.ReasonObjected},
		{"direct-marketing objection spares other purposes", li, consent.Facts{ObjectedDM: true}, true, consent.ReasonBasisLegitimate},
		{"suppression spares a non-marketing basis", li, consent.Facts{Suppressed: true}, true, consent.ReasonBasisLegitimate},
		{"suppression stops direct marketing on any basis", liDM, consent.Facts{Suppressed: true}, false, consent.ReasonSuppressed},
		{"restriction beats a contract", consent.Purpose{LawfulBasis: consent.BasisContract}, consent.Facts{Restricted: true}, false, consent.ReasonRestricted},
		{"contract", consent.Purpose{LawfulBasis: consent.BasisContract}, consent.Facts{}, true, consent.ReasonBasisContract},
		{"legal obligation", consent.Purpose{LawfulBasis: consent.BasisLegalObligation}, consent.Facts{}, true, consent.ReasonBasisLegal},
		{"vital interest", consent.Purpose{LawfulBasis: consent.BasisVitalInterest}, consent.Facts{}, true, consent.ReasonBasisVital},
		{"public task", consent.Purpose{LawfulBasis: consent.BasisPublicTask}, consent.Facts{}, true, consent.ReasonBasisPublicTask},
	} {
		d := consent.Decide(tc.p, tc.f, now)
		if d.Allowed != tc.allowed || d.Reason != tc.reason || d.LawfulBasis != tc.p.LawfulBasis {
			t.Errorf("%s: Decide = %+v; want allowed=%v reason=%s", tc.name, d, tc.allowed, tc.reason)
		}
	}
	seen := map[consent.Reason]bool{}
	for _, r := range consent.Reasons {
		seen[r] = true
	}
	if len(seen) != 17 {
		t.Errorf("%d distinct reasons; the documented set has 17", len(seen))
	}
}
