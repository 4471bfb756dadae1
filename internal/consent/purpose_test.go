package consent_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// TestPurposeValidate: every purpose names a lawful basis among the six of GDPR Art. 6(1) (as
// DPV terms, DESIGN §2) and a retention and validity in days; a refusal names the field.
func TestPurposeValidate(t *testing.T) {
	ok := consent.Purpose{ID: "sales-followup", Name: "Sales follow-up", LawfulBasis: consent.BasisLegitimateInterest, RetentionDays: 365}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid purpose: %v", err)
	}
	for _, basis := range consent.LawfulBases {
		p := ok
		p.LawfulBasis = basis
		if err := p.Validate(); err != nil {
			t.Errorf("lawful basis %s: %v", basis, err)
		}
	}
	for _, tc := range []struct {
		name          string
		mod           func(*consent.Purpose)
		field, reason string
	}{
		{"empty id", func(p *consent.Purpose) { p.ID = "" }, "id", "invalid_id"},
		{"upper-case id", func(p *consent.Purpose) { p.ID = "Sales" }, "id", "invalid_id"},
		{"id ending in -", func(p *consent.Purpose) { p.ID = "sales-" }, "id", "invalid_id"},
		{"id of 65 characters", func(p *consent.Purpose) { p.ID = strings.Repeat("a", 65) }, "id", "invalid_id"},
		{"blank name", func(p *consent.Purpose) { p.Name = " " }, "name", "required"},
		{"name of 201 characters", func(p *consent.Purpose) { p.Name = strings.Repeat("n", 201) }, "name", "too_long"},
		{"description of 20001 characters", func(p *consent.Purpose) { p.Description = strings.Repeat("d", 20001) }, "description", "too_long"},
		{"basis not a DPV term", func(p *consent.Purpose) { p.LawfulBasis = "consent" }, "lawful_basis", "invalid_lawful_basis"},
		{"negative validity", func(p *consent.Purpose) { p.ConsentValidDays = -1 }, "consent_valid_days", "invalid_validity"},
		{"validity over 100 years", func(p *consent.Purpose) { p.ConsentValidDays = 36501 }, "consent_valid_days", "invalid_validity"},
		{"negative retention", func(p *consent.Purpose) { p.RetentionDays = -1 }, "retention_days", "invalid_retention"},
		{"retention over 100 years", func(p *consent.Purpose) { p.RetentionDays = 36501 }, "retention_days", "invalid_retention"},
	} {
		p := ok
		tc.mod(&p)
		e := apperr.As(p.Validate())
		if e == nil || e.Kind != apperr.Invalid || e.Field != tc.field || e.Reason != tc.reason {
			t.Errorf("%s: %v; want Invalid %s on %s", tc.name, e, tc.reason, tc.field)
		}
	}
	if !consent.ValidID("a-1") || consent.ValidID("-a") || consent.ValidID("a_b") {
		t.Error("ValidID: want a-1 valid, -a and a_b not")
	}
}

// TestWhatAPurposeIs: the gate asks for consent for a purpose based on it (Art. 6(1)(a)) or one
// recording acceptance of the terms; only consent-based mail that is not the terms is a list one
// subscribes to and leaves.
func TestWhatAPurposeIs(t *testing.T) {
	news, terms := consent.DefaultPurpose(start), consent.TermsPurpose(start)
	li := consent.Purpose{ID: "offers", LawfulBasis: consent.BasisLegitimateInterest, DirectMarketing: true}
	for _, tc := range []struct {
		p                          consent.Purpose
		consentBased, subscribable bool
	}{
		{news, true, true},
		{terms, true, false},
		{li, false, false},
		{consent.Purpose{ID: "member-terms", LawfulBasis: consent.BasisConsent, Acceptance: true}, true, false},
	} {
		if got := tc.p.ConsentBased(); got != tc.consentBased {
			t.Errorf("%s.ConsentBased() = %v; want %v", tc.p.ID, got, tc.consentBased)
		}
		if got := tc.p.Subscribable(); got != tc.subscribable {
			t.Errorf("%s.Subscribable() = %v; want %v", tc.p.ID, got, tc.subscribable)
		}
	}
	if err := news.Validate(); err != nil || !news.DoubleOptIn || !news.DirectMarketing {
		t.Errorf("the default newsletter: %+v, %v; want valid, double opt-in (DESIGN §1.13), direct marketing", news, err)
	}
	if err := terms.Validate(); err != nil || terms.LawfulBasis != consent.BasisContract || !terms.Acceptance {
		t.Errorf("the terms purpose: %+v, %v; want valid, a contract, an acceptance", terms, err)
	}
}

// TestChangeFor: the stream processors are told about names each state in one word (DESIGN §2,
// a change holds ids and states, never personal data).
func TestChangeFor(t *testing.T) {
	at := start.Add(-time.Hour)
	for state, want := range map[consent.State]string{
		consent.Given: "given", consent.Withdrawn: "withdrawn", consent.Refused: "refused", consent.Expired: "expired", consent.Requested: "requested",
	} {
		c := consent.ChangeFor(consent.Event{ContactID: "c1", Purpose: "newsletter", State: state, OccurredAt: at, RecordedAt: start})
		if c != (consent.Change{ContactID: "c1", Purpose: "newsletter", Change: want, OccurredAt: at, RecordedAt: start}) {
			t.Errorf("ChangeFor(%s) = %+v; want change %q with the event's ids and times", state, c, want)
		}
	}
}

// TestCheckMethodAndVersions: an unsubscribe link (RFC 8058) and a GPC signal only say no; a
// carried-over suppression only withdraws; other methods record any state. The policy versions
// an event cites are bounded and well-formed (ISO/IEC TS 27560 "policy versions").
func TestCheckMethodAndVersions(t *testing.T) {
	for _, tc := range []struct {
		m      consent.Method
		s      consent.State
		reason string
	}{
		{consent.MethodOneClick, consent.Withdrawn, ""},
		{consent.MethodOneClick, consent.Refused, ""},
		{consent.MethodOneClick, consent.Given, "method_state_mismatch"},
		{consent.MethodGPC, consent.Requested, "method_state_mismatch"},
		{consent.MethodSuppression, consent.Withdrawn, ""},
		{consent.MethodSuppression, consent.Refused, "method_state_mismatch"},
		{consent.MethodStaff, consent.Expired, ""},
		{"fax", consent.Given, "invalid_method"},
		{consent.MethodAPI, "dpv:ConsentMaybe", "invalid_state"},
	} {
		err := consent.CheckMethod(tc.m, tc.s)
		if got := ""; err != nil {
			got = apperr.As(err).Reason
			if got != tc.reason {
				t.Errorf("CheckMethod(%s, %s) = %v; want %q", tc.m, tc.s, err, tc.reason)
			}
		} else if tc.reason != "" {
			t.Errorf("CheckMethod(%s, %s) = nil; want %s", tc.m, tc.s, tc.reason)
		}
	}
	many := map[string]string{}
	for i := range 21 {
		many["doc-"+string(rune('a'+i))] = "1"
	}
	for _, tc := range []struct {
		pv     map[string]string
		reason string
	}{
		{nil, ""},
		{map[string]string{"privacy_policy": "3", "terms-of-service": "v2.1"}, ""},
		{many, "too_many"},
		{map[string]string{"Privacy": "1"}, "invalid_document"},
		{map[string]string{"privacy_policy": ""}, "invalid_version"},
		{map[string]string{"privacy_policy": strings.Repeat("9", 65)}, "invalid_version"},
		{map[string]string{"privacy_policy": "1\n"}, "invalid_version"},
	} {
		err := consent.CheckPolicyVersions(tc.pv)
		if e := apperr.As(err); tc.reason == "" && err != nil || tc.reason != "" && (e == nil || e.Field != "policy_versions" || e.Reason != tc.reason) {
			t.Errorf("CheckPolicyVersions(%v) = %v; want %q", tc.pv, err, tc.reason)
		}
	}
}

// TestLoadPolicyState: the state consent recording reads from the published versions (GDPR Art.
// 7(1), 13(3)): the version in effect per document; re-consent asked only by a material version
// of the privacy policy or terms published after the document's first; drafts and versions not
// yet in effect ignored; the documents people agree to cited, the DPA and breach templates not.
func TestLoadPolicyState(t *testing.T) {
	day := 24 * time.Hour
	pub := func(doc string, v int, material bool, at time.Time) consent.PolicyVersion {
		return consent.PolicyVersion{Document: doc, Version: v, Material: material, EffectiveAt: at, PublishedAt: &at}
	}
	versions := []consent.PolicyVersion{
		pub(consent.DocPrivacyPolicy, 1, true, start.Add(-30*day)), // the first: never asks again, even if material
		pub(consent.DocPrivacyPolicy, 2, false, start.Add(-20*day)),
		pub(consent.DocPrivacyPolicy, 3, true, start.Add(-10*day)), // material: asks again
		pub(consent.DocPrivacyPolicy, 4, true, start.Add(day)),     // not yet in effect
		{Document: consent.DocPrivacyPolicy, Version: 5, Material: true, EffectiveAt: start},
		pub(consent.DocTermsOfService, 1, false, start.Add(-30*day)),
		pub(consent.DocDPATemplate, 1, false, start.Add(-30*day)),
		pub(consent.DocDPATemplate, 2, true, start.Add(-5*day)), // material, but no one consents to it
		pub(consent.DocBreachNoticeTemplate, 1, false, start.Add(-30*day)),
	}
	ps := consent.LoadPolicyState(versions, start)
	if got, want := ps.Current(), map[string]string{consent.DocPrivacyPolicy: "3", consent.DocTermsOfService: "1"}; !maps.Equal(got, want) {
		t.Errorf("Current() = %v; want %v", got, want)
	}
	news, terms := consent.DefaultPurpose(start), consent.TermsPurpose(start)
	li := consent.Purpose{ID: "offers", LawfulBasis: consent.BasisLegitimateInterest}
	for _, tc := range []struct {
		p     consent.Purpose
		pv    map[string]string
		stale bool
	}{
		{news, map[string]string{consent.DocPrivacyPolicy: "2"}, true},
		{news, map[string]string{consent.DocPrivacyPolicy: "3"}, false},
		{news, map[string]string{}, true}, // a version missing counts as older than any
		{terms, map[string]string{consent.DocTermsOfService: "1"}, false},
		{terms, map[string]string{consent.DocPrivacyPolicy: "1", consent.DocTermsOfService: "1"}, false}, // a privacy change is no terms change
		{li, map[string]string{}, false},
	} {
		if got := ps.Stale(tc.p, tc.pv); got != tc.stale {
			t.Errorf("Stale(%s, %v) = %v; want %v", tc.p.ID, tc.pv, got, tc.stale)
		}
	}
	for _, tc := range []struct {
		pv     map[string]string
		reason string
	}{
		{map[string]string{consent.DocPrivacyPolicy: "2"}, ""},
		{map[string]string{consent.DocPrivacyPolicy: "4"}, "unknown_version"}, // not in effect yet
		{map[string]string{consent.DocPrivacyPolicy: "5"}, "unknown_version"}, // a draft
		{map[string]string{consent.DocPrivacyPolicy: "two"}, "unknown_version"},
		{map[string]string{"cookie_policy": "1"}, "invalid_document"},
	} {
		err := ps.Check(tc.pv)
		if e := apperr.As(err); tc.reason == "" && err != nil || tc.reason != "" && (e == nil || e.Reason != tc.reason) {
			t.Errorf("Check(%v) = %v; want %q", tc.pv, err, tc.reason)
		}
	}
	terms2 := consent.LoadPolicyState(append(versions, pub(consent.DocTermsOfService, 2, true, start.Add(-day))), start)
	if !terms2.Stale(terms, map[string]string{consent.DocTermsOfService: "1"}) || terms2.Stale(news, map[string]string{consent.DocPrivacyPolicy: "3"}) {
		t.Error("a material terms version: want acceptance under version 1 stale and the newsletter consent not")
	}
}
