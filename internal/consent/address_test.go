package consent

import (
	"testing"
	"time"
)

// TestSetSuppression: an objection or restriction kept by address is that choice to the gate,
// whatever consent is on record (GDPR Art. 21(3), 18); other reasons are a suppression.
func TestSetSuppression(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	given := &Current{State: Given, LawfulBasis: BasisConsent, OccurredAt: now.Add(-time.Hour)}
	dmLI := Purpose{ID: "offers", LawfulBasis: BasisLegitimateInterest, DirectMarketing: true}
	news := Purpose{ID: "news", LawfulBasis: BasisConsent, DirectMarketing: true}
	for _, c := range []struct {
		reason string
		p      Purpose
		want   Reason
	}{
		{"", news, ReasonConsentGiven},
		{SuppressionObjected, news, ReasonObjected},
		{SuppressionObjected, dmLI, ReasonObjected},
		{SuppressionRestricted, news, ReasonRestricted},
		{SuppressionRestricted, dmLI, ReasonRestricted},
		{SuppressionUnsubscribed, news, ReasonSuppressed},
		{SuppressionBounced, dmLI, ReasonSuppressed},
	} {
		f := Facts{Current: given}
		f.SetSuppression(c.reason)
		if d := Decide(c.p, f, now); d.Reason != c.want {
			t.Errorf("%q, %s: %s, want %s", c.reason, c.p.ID, d.Reason, c.want)
		}
	}
	if !KeptByAddress(SuppressionObjected) || !KeptByAddress(SuppressionRestricted) || KeptByAddress(SuppressionComplained) {
		t.Error("KeptByAddress: want objected and restricted only")
	}
}
