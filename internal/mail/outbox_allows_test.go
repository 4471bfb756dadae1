package mail

import (
	"testing"

	"github.com/tillit/tillit/internal/consent"
)

// TestAllows: at hand-off a marketing message needs the gate's allowance; a consent-request
// campaign's request needs a person who may still be asked (issue 11); other transactional mail
// is not gated.
func TestAllows(t *testing.T) {
	marketing := Entry{Stream: Marketing, Purpose: "newsletter", CampaignID: "c"}
	request := Entry{Stream: Transactional, Kind: "optin.confirm", Purpose: "newsletter", CampaignID: "c"}
	if gated(Entry{Stream: Transactional, Kind: "optin.confirm"}) || !gated(marketing) || !gated(request) {
		t.Fatal("gated: want marketing and campaign requests only")
	}
	for _, tc := range []struct {
		e      Entry
		d      consent.Decision
		ok     bool
		reason string
	}{
		{marketing, consent.Decision{Allowed: true, Reason: consent.ReasonConsentGiven}, true, "consent_given"},
		{marketing, consent.Decision{Reason: consent.ReasonWithdrawn}, false, "withdrawn"},
		{request, consent.Decision{Allowed: true, Reason: consent.ReasonConsentGiven}, false, "consent_given"},
		{request, consent.Decision{Reason: consent.ReasonNoConsent}, true, "no_consent"},
		{request, consent.Decision{Reason: consent.ReasonExpired}, true, "expired"},
		{request, consent.Decision{Reason: consent.ReasonNeedsReconsent}, true, "needs_reconsent"},
		{request, consent.Decision{Reason: consent.ReasonRefused}, false, "refused"},
		{request, consent.Decision{Reason: consent.ReasonWithdrawn}, false, "withdrawn"},
		{request, consent.Decision{Reason: consent.ReasonObjected}, false, "objected"},
		{request, consent.Decision{Reason: consent.ReasonRestricted}, false, "restricted"},
		{request, consent.Decision{Reason: consent.ReasonSuppressed}, false, "suppressed"},
		{request, consent.Decision{Reason: consent.ReasonPendingApproval}, false, "pending_approval"},
	} {
		if reason, ok := allows(tc.e, tc.d); ok != tc.ok || reason != tc.reason {
			t.Errorf("%s %s: allows = %q, %v; want %q, %v", tc.e.Stream, tc.d.Reason, reason, ok, tc.reason, tc.ok)
		}
	}
}
