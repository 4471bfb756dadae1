package campaign

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
)

// TestMayAsk: a consent request goes to those whose consent lapsed or was asked for and not
// answered; never to those who said no or may not be processed; to those never asked only with
// include_no_history (issue 11).
func TestMayAsk(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := consent.Purpose{ID: "tips", LawfulBasis: consent.BasisConsent, DirectMarketing: true, ConsentValidDays: 365}
	cur := func(s consent.State, age time.Duration) *consent.Current {
		return &consent.Current{State: s, OccurredAt: now.Add(-age)}
	}
	reconsent := cur(consent.Given, time.Hour)
	reconsent.NeedsReconsent = true
	for _, tc := range []struct {
		name      string
		f         consent.Facts
		noHistory bool
		ask       bool
		reason    string
	}{
		{"no history", consent.Facts{}, false, false, SkipNoHistory},
		{"no history, include_no_history", consent.Facts{}, true, true, ""},
		{"requested, not answered", consent.Facts{Current: cur(consent.Requested, time.Hour)}, false, true, ""},
		{"expired by event", consent.Facts{Current: cur(consent.Expired, time.Hour)}, false, true, ""},
		{"expired by consent_valid_days", consent.Facts{Current: cur(consent.Given, 400*24*time.Hour)}, false, true, ""},
		{"needs reconsent", consent.Facts{Current: reconsent}, false, true, ""},
		{"given", consent.Facts{Current: cur(consent.Given, time.Hour)}, true, false, SkipConsentGiven},
		{"refused", consent.Facts{Current: cur(consent.Refused, time.Hour)}, true, false, "refused"},
		{"withdrawn", consent.Facts{Current: cur(consent.Withdrawn, time.Hour)}, true, false, "withdrawn"},
		{"objected to direct marketing", consent.Facts{Current: cur(consent.Expired, time.Hour), ObjectedDM: true}, true, false, "objected"},
		{"objected to the purpose, no history", consent.Facts{ObjectedPurpose: true}, true, false, "objected"},
		{"restricted", consent.Facts{Current: cur(consent.Expired, time.Hour), Restricted: true}, true, false, "restricted"},
		{"suppressed", consent.Facts{Current: cur(consent.Expired, time.Hour), Suppressed: true}, true, false, "suppressed"},
		{"suppressed, no history", consent.Facts{Suppressed: true}, true, false, "suppressed"},
		{"staff consent awaiting approval", consent.Facts{PendingApproval: true}, true, false, "pending_approval"},
	} {
		ask, reason := mayAsk(consent.Decide(p, tc.f, now), tc.f, tc.noHistory)
		if ask != tc.ask || reason != tc.reason {
			t.Errorf("%s: mayAsk = %v, %q; want %v, %q", tc.name, ask, reason, tc.ask, tc.reason)
		}
	}
}

// TestIncludeNoHistoryNeedsAdminOrDPO: the option is for consent-request campaigns, set by an
// admin or the DPO (from the actor in the context); anyone else is Forbidden naming the field.
func TestIncludeNoHistoryNeedsAdminOrDPO(t *testing.T) {
	c := Campaign{Kind: KindConsentRequest, IncludeNoHistory: true}
	for _, tc := range []struct {
		actor   audit.Actor
		allowed bool
	}{
		{audit.Actor{Kind: audit.ActorToken, Role: "admin"}, true},
		{audit.Actor{Kind: audit.ActorToken, Role: "dpo"}, true},
		{audit.Actor{Kind: audit.ActorToken, Role: "agent"}, false},
		{audit.Actor{Kind: audit.ActorToken, Role: "auditor"}, false},
		{audit.Actor{Kind: audit.ActorSystem, ID: "tillit"}, false},
		{audit.Actor{Kind: audit.ActorPublic, ID: "subscribe", Role: "admin"}, false},
	} {
		err := checkNoHistory(audit.WithActor(context.Background(), tc.actor), c)
		if e := apperr.As(err); tc.allowed && err != nil || !tc.allowed && (e == nil || e.Kind != apperr.Forbidden || e.Field != "include_no_history" || e.Reason != "role_forbidden") {
			t.Errorf("%+v: %v; want allowed %v, else Forbidden role_forbidden on include_no_history", tc.actor, err, tc.allowed)
		}
	}
	admin := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, Role: "admin"})
	if e := apperr.As(checkNoHistory(admin, Campaign{Kind: KindMarketing, IncludeNoHistory: true})); e == nil || e.Kind != apperr.Invalid || e.Field != "include_no_history" {
		t.Errorf("include_no_history on a marketing campaign: %v; want Invalid naming the field", e)
	}
	if w := warnings(c); len(w) != 1 || w[0] != NoHistoryWarning {
		t.Errorf("warnings = %q", w)
	}
	if w := warnings(Campaign{Kind: KindConsentRequest}); w != nil {
		t.Errorf("warnings without the option = %q", w)
	}
}
