package consent_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// publish drafts and publishes a version of document and returns what publishing changed.
func (e *env) publish(t *testing.T, document string, material bool) consent.PublishResult {
	t.Helper()
	v, err := e.policies.Draft(staffA, document, "# "+document, material)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.policies.Publish(staffA, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestDraftRefuses: a draft is one of the four documents with a body of 1 byte to 512 KiB of
// UTF-8; the template check (Policies.Check) is asked before it is stored; versions are numbered
// from 1 per document and hashed (SHA-256, DESIGN §2).
func TestDraftRefuses(t *testing.T) {
	e := newEnv(t)
	e.policies.Check = func(doc, body string) error {
		if strings.Contains(body, "{{") {
			return apperr.Invalidf("body", "unknown_placeholder", "body: unknown placeholder")
		}
		return nil
	}
	for _, tc := range []struct {
		doc, body, field, reason string
	}{
		{"cookie_policy", "x", "document", "invalid_document"},
		{consent.DocPrivacyPolicy, "", "body", "invalid_body"},
		{consent.DocPrivacyPolicy, strings.Repeat("x", consent.MaxPolicyBody+1), "body", "invalid_body"},
		{consent.DocPrivacyPolicy, "\xff", "body", "invalid_body"},
		{consent.DocBreachNoticeTemplate, "Dear {{nobody}}", "body", "unknown_placeholder"},
	} {
		_, err := e.policies.Draft(staffA, tc.doc, tc.body, false)
		if ae := apperr.As(err); ae == nil || ae.Field != tc.field || ae.Reason != tc.reason {
			t.Errorf("Draft(%s, %.10q): %v; want %s on %s", tc.doc, tc.body, err, tc.reason, tc.field)
		}
	}
	v1, err1 := e.policies.Draft(staffA, consent.DocPrivacyPolicy, "abc", true)
	v2, err2 := e.policies.Draft(staffA, consent.DocPrivacyPolicy, "abcd", false)
	d1, err3 := e.policies.Draft(staffA, consent.DocDPATemplate, strings.Repeat("x", consent.MaxPolicyBody), false)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v2.Version != 2 || d1.Version != 1 || v1.PublishedAt != nil || !v1.Material ||
		v1.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("drafts: %+v %+v %+v; want versions 1, 2 and 1, unpublished, SHA-256 of the body", v1, v2, d1)
	}
	if got, err := e.policies.Get(staffA, v2.ID); err != nil || got.Body != "abcd" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if _, err := e.policies.Get(staffA, "nope"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Get(nope): %v; want NotFound", err)
	}
	if all, err := e.policies.List(staffA); err != nil || len(all) != 3 {
		t.Errorf("List = %d versions, %v; want 3", len(all), err)
	}
	if evs := e.audits(t, "policy", v1.ID); len(evs) != 1 || evs[0].Action != "policy.draft" || !slices.Equal(evs[0].Fields, []string{consent.DocPrivacyPolicy}) {
		t.Errorf("audit of the draft = %+v", evs)
	}
}

// TestMaterialChangeAsksAgain: publishing a material new version of the privacy policy marks
// every consent given under an older one needs_reconsent, and the gate refuses it until the
// person consents again (GDPR Art. 7, 13(3)); the first published version and non-material ones
// ask nothing; a published version never changes and an older one cannot follow a newer one.
func TestMaterialChangeAsksAgain(t *testing.T) {
	e := newEnv(t)
	ann, bo := e.contact(t, "ann@example.org"), e.contact(t, "bo@example.org")
	e.record(t, person, consent.Event{ContactID: ann, Purpose: "newsletter", State: consent.Given}) // under no published policy yet
	e.record(t, person, consent.Event{ContactID: bo, Purpose: "newsletter", State: consent.Withdrawn})
	if res := e.publish(t, consent.DocPrivacyPolicy, true); res.Reconsent != 0 || res.Version.Version != 1 || res.Version.PublishedAt == nil || !res.Version.EffectiveAt.Equal(start) {
		t.Errorf("the first version: %+v; want published now, no re-consent asked", res)
	}
	if d := e.check(t, ann, "newsletter"); !d.Allowed {
		t.Errorf("Check after the first version = %+v; want the consent standing", d)
	}
	e.now = start.Add(time.Hour)
	if res := e.publish(t, consent.DocPrivacyPolicy, false); res.Reconsent != 0 {
		t.Errorf("a non-material version asked %d to consent again; want 0", res.Reconsent)
	}
	seq := e.lastSeq(t)
	e.now = start.Add(2 * time.Hour)
	res := e.publish(t, consent.DocPrivacyPolicy, true)
	if res.Reconsent != 1 || res.Version.Version != 3 {
		t.Errorf("a material version: %+v; want version 3 asking the one given consent again", res)
	}
	if d := e.check(t, ann, "newsletter"); d.Allowed || d.Reason != consent.ReasonNeedsReconsent {
		t.Errorf("Check after the material change = %+v; want needs_reconsent", d)
	}
	if cs := e.changes(t, seq); len(cs) != 1 || cs[0].ContactID != ann || cs[0].Change != "needs_reconsent" || !cs[0].OccurredAt.Equal(e.now) {
		t.Errorf("changes = %+v; want needs_reconsent for ann", cs)
	}
	if evs := e.audits(t, "policy", res.Version.ID); evs[len(evs)-1].Action != "policy.publish" || !slices.Equal(evs[len(evs)-1].Fields, []string{consent.DocPrivacyPolicy, "material"}) {
		t.Errorf("audit of the publication = %+v", evs)
	}
	stale := e.record(t, person, consent.Event{ContactID: ann, Purpose: "newsletter", State: consent.Given, PolicyVersions: map[string]string{consent.DocPrivacyPolicy: "2"}})
	if d := e.check(t, ann, "newsletter"); d.Reason != consent.ReasonNeedsReconsent {
		t.Errorf("consent citing version 2 after version 3 (%v): %+v; want needs_reconsent", stale.PolicyVersions, d)
	}
	if ev := e.record(t, person, consent.Event{ContactID: ann, Purpose: "newsletter", State: consent.Given}); ev.PolicyVersions[consent.DocPrivacyPolicy] != "3" {
		t.Errorf("a new consent cites %v; want version 3", ev.PolicyVersions)
	}
	if d := e.check(t, ann, "newsletter"); !d.Allowed {
		t.Errorf("Check after consenting again = %+v; want allowed", d)
	}
	cur, err := e.policies.Current(staffA)
	if err != nil || cur[consent.DocPrivacyPolicy].Version != 3 || len(cur) != 1 {
		t.Errorf("Current = %+v, %v; want version 3 of the privacy policy", cur, err)
	}

	if _, err := e.policies.Publish(staffA, res.Version.ID); apperr.As(err) == nil || apperr.As(err).Reason != "already_published" {
		t.Errorf("publishing again: %v; want Conflict already_published", err)
	}
	v4, _ := e.policies.Draft(staffA, consent.DocPrivacyPolicy, "four", false)
	v5, _ := e.policies.Draft(staffA, consent.DocPrivacyPolicy, "five", false)
	if _, err := e.policies.Publish(staffA, v5.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.policies.Publish(staffA, v4.ID); apperr.As(err) == nil || apperr.As(err).Reason != "superseded" {
		t.Errorf("publishing 4 after 5: %v; want Conflict superseded", err)
	}
	if _, err := e.policies.Publish(staffA, "nope"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("publishing an unknown version: %v; want NotFound", err)
	}
}

// TestTermsAcceptance: accepting the terms is a consent event that carries the accepted
// version; a material new version of the terms asks for acceptance again, a privacy policy
// change does not (Purpose.Acceptance).
func TestTermsAcceptance(t *testing.T) {
	e := newEnv(t)
	id := e.contact(t, "cy@example.org")
	_, err := e.consent.Record(person, consent.Event{ContactID: id, Purpose: "terms-of-service", State: consent.Given, Method: consent.MethodWebForm})
	if ae := apperr.As(err); ae == nil || ae.Reason != "terms_version_required" {
		t.Errorf("accepting terms never published: %v; want terms_version_required", err)
	}
	e.publish(t, consent.DocTermsOfService, false)
	e.publish(t, consent.DocPrivacyPolicy, false)
	if ev := e.record(t, person, consent.Event{ContactID: id, Purpose: "terms-of-service", State: consent.Given}); ev.PolicyVersions[consent.DocTermsOfService] != "1" {
		t.Errorf("acceptance cites %v; want terms version 1", ev.PolicyVersions)
	}
	if d := e.check(t, id, "terms-of-service"); !d.Allowed || d.LawfulBasis != consent.BasisContract {
		t.Errorf("Check of accepted terms = %+v; want allowed on the contract", d)
	}
	e.now = start.Add(time.Hour)
	if res := e.publish(t, consent.DocPrivacyPolicy, true); res.Reconsent != 0 {
		t.Errorf("a material privacy change asked %d acceptances again; want 0", res.Reconsent)
	}
	if res := e.publish(t, consent.DocTermsOfService, true); res.Reconsent != 1 {
		t.Errorf("a material terms change asked %d again; want 1", res.Reconsent)
	}
	if d := e.check(t, id, "terms-of-service"); d.Allowed || d.Reason != consent.ReasonNeedsReconsent {
		t.Errorf("Check after new terms = %+v; want needs_reconsent", d)
	}
}
