package storetest

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

func testPolicyVersions(t *testing.T, s *suite) {
	v1 := consent.PolicyVersion{ID: "pv-1", Document: consent.DocPrivacyPolicy, Version: 1, Body: "# v1", SHA256: "aa", Material: false, EffectiveAt: t0, CreatedAt: t0}
	v2 := consent.PolicyVersion{ID: "pv-2", Document: consent.DocPrivacyPolicy, Version: 2, Body: "# v2", SHA256: "bb", Material: true, EffectiveAt: t1, CreatedAt: t1}
	s.update(t, func(tx Tx) error {
		if n, err := tx.LatestPolicyVersion(s.ctx, consent.DocPrivacyPolicy); err != nil || n != 0 {
			t.Errorf("LatestPolicyVersion of nothing = %d, %v", n, err)
		}
		if err := tx.InsertPolicyVersion(s.ctx, v1); err != nil {
			return err
		}
		if err := tx.InsertPolicyVersion(s.ctx, v2); err != nil {
			return err
		}
		return nil
	})
	// A failed statement may end the transaction (PostgreSQL): the conflict is its own.
	err := s.h.Update(s.ctx, func(tx Tx) error {
		return tx.InsertPolicyVersion(s.ctx, consent.PolicyVersion{ID: "pv-x", Document: consent.DocPrivacyPolicy, Version: 2, Body: "x", SHA256: "cc", EffectiveAt: t1, CreatedAt: t1})
	})
	wantKind(t, "a second version 2", err, apperr.Conflict)
	s.update(t, func(tx Tx) error {
		if cur, err := tx.CurrentPolicyVersions(s.ctx, t2); err != nil || len(cur) != 0 {
			t.Errorf("CurrentPolicyVersions before any publish = %v, %v", cur, err)
		}
		// Published times one nanosecond apart, and an effective time with trailing zeros, must
		// compare as times.
		if err := tx.PublishPolicyVersion(s.ctx, "pv-1", t0, t0); err != nil {
			return err
		}
		if err := tx.PublishPolicyVersion(s.ctx, "pv-2", t1, t1); err != nil {
			return err
		}
		wantKind(t, "publishing twice", tx.PublishPolicyVersion(s.ctx, "pv-2", t2, t2), apperr.NotFound)
		if cur, err := tx.CurrentPolicyVersions(s.ctx, t1.Add(-time.Nanosecond)); err != nil || cur[consent.DocPrivacyPolicy] != 1 {
			t.Errorf("CurrentPolicyVersions just before v2 = %v, %v; want v1", cur, err)
		}
		if cur, err := tx.CurrentPolicyVersions(s.ctx, t1); err != nil || cur[consent.DocPrivacyPolicy] != 2 {
			t.Errorf("CurrentPolicyVersions at v2 = %v, %v; want v2", cur, err)
		}
		got, err := tx.PolicyVersionByID(s.ctx, "pv-2")
		if err != nil {
			return err
		}
		if got.Version != 2 || !got.Material || got.PublishedAt == nil || got.Body != "# v2" || got.SHA256 != "bb" {
			t.Errorf("PolicyVersionByID = %+v", got)
		}
		all, err := tx.PolicyVersions(s.ctx)
		if err != nil || len(all) != 2 || all[0].ID != "pv-1" {
			t.Errorf("PolicyVersions = %+v, %v", all, err)
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		li := purpose("followup")
		li.LawfulBasis = consent.BasisLegitimateInterest
		if err := tx.InsertPurpose(s.ctx, li); err != nil {
			return err
		}
		for _, id := range []string{"m-old", "m-new", "m-none", "m-li"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, contact.KindContact, nil, nil)); err != nil {
				return err
			}
		}
		put := func(id, pur string, pv map[string]string) error {
			c := current(id, pur, consent.Given, "ev-"+id)
			c.PolicyVersions = pv
			return tx.PutCurrentConsent(s.ctx, c)
		}
		for _, err := range []error{
			put("m-old", "newsletter", map[string]string{"privacy_policy": "1"}),
			put("m-new", "newsletter", map[string]string{"privacy_policy": "2"}),
			put("m-none", "newsletter", map[string]string{}),
			put("m-li", "followup", map[string]string{"privacy_policy": "1"}),
		} {
			if err != nil {
				return err
			}
		}
		pairs, err := tx.MarkReconsent(s.ctx, consent.DocPrivacyPolicy, 2)
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, p := range pairs {
			got[p[0]+"/"+p[1]] = true
		}
		if len(pairs) != 2 || !got["m-old/newsletter"] || !got["m-none/newsletter"] {
			t.Errorf("MarkReconsent = %v; want m-old and m-none for newsletter only", pairs)
		}
		if again, err := tx.MarkReconsent(s.ctx, consent.DocPrivacyPolicy, 2); err != nil || len(again) != 0 {
			t.Errorf("MarkReconsent again = %v, %v; want nothing new", again, err)
		}
		c, err := tx.CurrentConsent(s.ctx, "m-old", "newsletter")
		if err != nil || !c.NeedsReconsent {
			t.Errorf("m-old after MarkReconsent = %+v, %v", c, err)
		}
		return nil
	})
}
