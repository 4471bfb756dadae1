package campaign_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
)

// purposes adds a direct-marketing purpose on legitimate interest ("offers") and one on a
// contract ("delivery") beside the default newsletter and terms.
func (w *world) purposes(t *testing.T) {
	t.Helper()
	for _, p := range []consent.Purpose{
		{ID: "offers", Name: "Offers", LawfulBasis: consent.BasisLegitimateInterest, DirectMarketing: true},
		{ID: "delivery", Name: "Delivery", LawfulBasis: consent.BasisContract},
	} {
		if _, err := w.consent.CreatePurpose(staff(), p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCreateRefuses: a campaign is marketing mail for a consent-based or direct-marketing
// purpose (never a contract or the terms), with a one-line subject and a plain-text body; a
// consent request asks for consent to a consent-based purpose only; asking people with no
// history is for an admin or the DPO (ePrivacy Directive Art. 13). A refusal names the field.
func TestCreateRefuses(t *testing.T) {
	w := open(t, t.TempDir())
	defer w.db.Close()
	w.purposes(t)
	ok := campaign.Campaign{Purpose: "newsletter", Subject: "News", Text: "Hello."}
	for _, tc := range []struct {
		name          string
		mod           func(*campaign.Campaign)
		kind          apperr.Kind
		field, reason string
	}{
		{"unknown kind", func(c *campaign.Campaign) { c.Kind = "survey" }, apperr.Invalid, "kind", "invalid_kind"},
		{"no purpose", func(c *campaign.Campaign) { c.Purpose = "" }, apperr.Invalid, "purpose", "required"},
		{"unknown purpose", func(c *campaign.Campaign) { c.Purpose = "tips" }, apperr.Invalid, "purpose", "unknown_purpose"},
		{"a contract", func(c *campaign.Campaign) { c.Purpose = "delivery" }, apperr.Invalid, "purpose", "not_marketing"},
		{"the terms", func(c *campaign.Campaign) { c.Purpose = "terms-of-service" }, apperr.Invalid, "purpose", "not_marketing"},
		{"a consent request for legitimate interest", func(c *campaign.Campaign) { c.Kind = campaign.KindConsentRequest; c.Purpose = "offers" }, apperr.Invalid, "purpose", "not_consent_based"},
		{"blank subject", func(c *campaign.Campaign) { c.Subject = " " }, apperr.Invalid, "subject", "invalid_subject"},
		{"a subject on two lines", func(c *campaign.Campaign) { c.Subject = "News\r\nBcc: x@example.org" }, apperr.Invalid, "subject", "invalid_subject"},
		{"a subject of 201 characters", func(c *campaign.Campaign) { c.Subject = strings.Repeat("s", 201) }, apperr.Invalid, "subject", "invalid_subject"},
		{"no text", func(c *campaign.Campaign) { c.Text = "\n" }, apperr.Invalid, "text", "invalid_text"},
		{"text over 200 KiB", func(c *campaign.Campaign) { c.Text = strings.Repeat("t", 200<<10+1) }, apperr.Invalid, "text", "invalid_text"},
		{"HTML over 400 KiB", func(c *campaign.Campaign) { c.HTML = strings.Repeat("h", 400<<10+1) }, apperr.Invalid, "html", "too_long"},
		{"an unknown audience kind", func(c *campaign.Campaign) { c.Audience.Kind = "customer" }, apperr.Invalid, "audience.kind", "invalid_kind"},
		{"no history by an agent", func(c *campaign.Campaign) { c.Kind = campaign.KindConsentRequest; c.IncludeNoHistory = true }, apperr.Forbidden, "include_no_history", "role_forbidden"},
	} {
		c := ok
		tc.mod(&c)
		_, err := w.svc.Create(as("agent"), c)
		if ae := apperr.As(err); ae == nil || ae.Kind != tc.kind || ae.Field != tc.field || ae.Reason != tc.reason {
			t.Errorf("%s: %v; want %s %s on %s", tc.name, err, tc.kind, tc.reason, tc.field)
		}
	}
	if list, err := w.svc.List(staff()); err != nil || len(list) != 0 {
		t.Errorf("campaigns after the refusals: %d, %v; want none", len(list), err)
	}

	offers, err := w.svc.Create(as("agent"), campaign.Campaign{Purpose: "offers", Subject: "Offer", Text: "Buy."})
	if err != nil || offers.Kind != campaign.KindMarketing || offers.Status != campaign.StatusDraft || !offers.CreatedAt.Equal(start) || offers.Counts != nil {
		t.Errorf("a marketing campaign for legitimate interest: %+v, %v; want a draft", offers, err)
	}
	ask, err := w.svc.Create(as("dpo"), campaign.Campaign{Kind: campaign.KindConsentRequest, IncludeNoHistory: true, Purpose: "newsletter", Subject: "May we?", Text: "Say yes."})
	if err != nil || len(ask.Warnings) != 1 || ask.Warnings[0] != campaign.NoHistoryWarning {
		t.Errorf("a consent request asking people with no history, by the DPO: %+v, %v; want it with the warning", ask, err)
	}
	list, err := w.svc.List(staff())
	if err != nil || len(list) != 2 || list[0].Status != campaign.StatusDraft || len(list[0].Warnings)+len(list[1].Warnings) != 1 {
		t.Errorf("List = %+v, %v; want both drafts, the warning derived", list, err)
	}
	evs, err := w.db.AuditEvents(staff(), storeFilter("campaign", offers.ID))
	if err != nil || len(evs) != 1 || evs[0].Action != "campaign.create" || evs[0].Purpose != "offers" || evs[0].Actor.ID != "tok-agent" {
		t.Errorf("audit of the create = %+v, %v", evs, err)
	}
	if _, err := w.svc.Get(staff(), "nope"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Get(nope): %v; want NotFound", err)
	}
	if _, err := w.svc.Send(staff(), "nope"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Send(nope): %v; want NotFound", err)
	}
	if _, err := w.svc.Step(staff(), offers.ID); apperr.As(err) == nil || apperr.As(err).Reason != "not_sent" {
		t.Errorf("Step of a draft: %v; want Conflict not_sent", err)
	}
}
