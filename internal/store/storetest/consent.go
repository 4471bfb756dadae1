package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

func testPurposes(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		got, err := tx.ListPurposes(s.ctx)
		if err != nil || len(got) != 0 {
			t.Errorf("ListPurposes on an empty store = %v, %v; want none", got, err)
		}
		return nil
	})
	news := purpose("newsletter")
	sales := consent.Purpose{ID: "analytics", Name: "Analytics", Description: "", LawfulBasis: consent.BasisLegitimateInterest,
		RetentionDays: 0, DoubleOptIn: false, CreatedAt: t2}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, news); err != nil {
			return err
		}
		return tx.InsertPurpose(s.ctx, sales)
	})
	dup := purpose("newsletter")
	dup.Name = "Other"
	err := s.h.Update(s.ctx, func(tx Tx) error { return tx.InsertPurpose(s.ctx, dup) })
	if e := wantKind(t, "InsertPurpose(duplicate)", err, apperr.Conflict); e != nil && e.ID != "newsletter" {
		t.Errorf("Conflict ID = %q, want newsletter", e.ID)
	}
	s.update(t, func(tx Tx) error {
		got, err := tx.ListPurposes(s.ctx)
		if err != nil {
			return err
		}
		if len(got) != 2 {
			t.Errorf("ListPurposes = %d purposes, want 2", len(got))
			return nil
		}
		checkPurpose(t, got[0], sales) // id order: analytics < newsletter
		checkPurpose(t, got[1], news)
		p, err := tx.PurposeByID(s.ctx, "newsletter")
		if err != nil {
			return err
		}
		checkPurpose(t, p, news)
		return nil
	})
}

func testConsentEvents(t *testing.T, s *suite) {
	e1 := consentEvent("ev-1", "c-1", "newsletter", consent.Given, t2)
	e2 := consentEvent("ev-2", "c-1", "sales", consent.Refused, t0) // occurred before e1, recorded after
	e2.Method, e2.PolicyVersions, e2.NoticeHash, e2.Actor = consent.MethodImport, nil, "", "cli:import"
	e3 := consentEvent("ev-3", "c-1", "newsletter", consent.Withdrawn, t1)
	e3.Method = consent.MethodOneClick
	other := consentEvent("ev-other", "c-2", "newsletter", consent.Given, t0)
	evidence := [][]byte{[]byte("sealed-evidence-1\x00\xff"), nil, bytes.Repeat([]byte{0xab}, 5000)}
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("c-1", "lead", nil, nil), minimalRecord("c-2", "lead", nil, nil)); err != nil {
			return err
		}
		for _, p := range []string{"newsletter", "sales"} {
			if err := tx.InsertPurpose(s.ctx, purpose(p)); err != nil {
				return err
			}
		}
		for i, e := range []*consent.Event{e1, e2} {
			if err := tx.InsertConsentEvent(s.ctx, e, evidence[i]); err != nil {
				return err
			}
		}
		return tx.InsertConsentEvent(s.ctx, other, []byte("other"))
	})
	s.update(t, func(tx Tx) error { return tx.InsertConsentEvent(s.ctx, e3, evidence[2]) })
	s.update(t, func(tx Tx) error {
		evs, sealed, err := tx.ConsentEvents(s.ctx, "c-1")
		if err != nil {
			return err
		}
		want := []*consent.Event{e1, e2, e3}
		if len(evs) != len(want) || len(sealed) != len(want) {
			t.Errorf("ConsentEvents = %d events, %d evidence; want %d", len(evs), len(sealed), len(want))
			return nil
		}
		for i := range want {
			checkEvent(t, evs[i], *want[i])
			if !bytes.Equal(sealed[i], evidence[i]) || (evidence[i] == nil) != (sealed[i] == nil) {
				t.Errorf("evidence of %s = %d bytes (nil %v), want %d bytes (nil %v)", want[i].ID, len(sealed[i]), sealed[i] == nil, len(evidence[i]), evidence[i] == nil)
			}
		}
		evs, sealed, err = tx.ConsentEvents(s.ctx, "c-none")
		if err != nil || len(evs) != 0 || len(sealed) != 0 {
			t.Errorf("ConsentEvents(unknown contact) = %d, %d, %v; want none", len(evs), len(sealed), err)
		}
		return nil
	})
}

func testCurrentConsent(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("c-1", "lead", nil, nil)); err != nil {
			return err
		}
		for _, p := range []string{"sales", "newsletter"} {
			if err := tx.InsertPurpose(s.ctx, purpose(p)); err != nil {
				return err
			}
		}
		if err := tx.PutCurrentConsent(s.ctx, current("c-1", "sales", consent.Given, "ev-s")); err != nil {
			return err
		}
		return tx.PutCurrentConsent(s.ctx, current("c-1", "newsletter", consent.Given, "ev-1"))
	})
	replaced := consent.Current{ContactID: "c-1", Purpose: "newsletter", State: consent.Withdrawn, LawfulBasis: consent.BasisConsent,
		Method: consent.MethodOneClick, OccurredAt: t1, PolicyVersions: map[string]string{"privacy_policy": "4", "terms_of_service": "2"}, EventID: "ev-2"}
	s.update(t, func(tx Tx) error { return tx.PutCurrentConsent(s.ctx, replaced) })
	s.update(t, func(tx Tx) error {
		got, err := tx.CurrentConsent(s.ctx, "c-1", "newsletter")
		if err != nil {
			return err
		}
		checkCurrent(t, got, replaced)
		all, err := tx.CurrentConsents(s.ctx, "c-1")
		if err != nil {
			return err
		}
		if len(all) != 2 {
			t.Errorf("CurrentConsents = %d, want 2 (one per purpose)", len(all))
			return nil
		}
		checkCurrent(t, all[0], replaced) // purpose order: newsletter < sales
		checkCurrent(t, all[1], current("c-1", "sales", consent.Given, "ev-s"))
		return nil
	})
}

// testPurposeUnsubscribes: an address's unsubscribe from one purpose's list is found by its hash
// for that purpose only, keeps its first time, and reaches the gate facts of the contact with the
// address, for that purpose only.
func testPurposeUnsubscribes(t *testing.T, s *suite) {
	h, other := []byte("pu-hash\x00"), []byte("pu-other")
	r := minimalRecord("pu-1", contact.KindContact, []byte("pu-index"), nil)
	r.SuppressionHash = h
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"newsletter", "offers"} {
			if err := tx.InsertPurpose(s.ctx, purpose(id)); err != nil {
				return err
			}
		}
		if err := tx.InsertContact(s.ctx, r); err != nil {
			return err
		}
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{{Hash: h, Purpose: "newsletter", At: t0}})
	})
	s.update(t, func(tx Tx) error {
		// A second entry for the same address and purpose keeps the first time.
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{{Hash: h, Purpose: "newsletter", At: t1}})
	})
	s.update(t, func(tx Tx) error {
		at, err := tx.PurposeUnsubscribedAt(s.ctx, [][]byte{h}, "newsletter")
		if err != nil || !at.Equal(t0) {
			t.Errorf("PurposeUnsubscribedAt = %v, %v; want %v", at, err, t0)
		}
		_, err = tx.PurposeUnsubscribedAt(s.ctx, [][]byte{h}, "offers")
		wantKind(t, "PurposeUnsubscribedAt(other purpose)", err, apperr.NotFound)
		got, err := tx.PurposeUnsubscribesFor(s.ctx, [][]byte{h, other}, "newsletter")
		if err != nil || len(got) != 1 || !got[string(h)].Equal(t0) {
			t.Errorf("PurposeUnsubscribesFor = %v, %v; want only the one address at %v", got, err, t0)
		}
		f, err := tx.GateFacts(s.ctx, "pu-1", "newsletter")
		if err != nil || f.UnsubscribedAt == nil || !f.UnsubscribedAt.Equal(t0) {
			t.Errorf("GateFacts(newsletter) = %+v, %v; want UnsubscribedAt %v", f, err, t0)
		}
		many, err := tx.GateFactsFor(s.ctx, []string{"pu-1"}, "newsletter")
		if err != nil || many["pu-1"].UnsubscribedAt == nil {
			t.Errorf("GateFactsFor(newsletter) = %+v, %v; want UnsubscribedAt", many, err)
		}
		if f, err := tx.GateFacts(s.ctx, "pu-1", "offers"); err != nil || f.UnsubscribedAt != nil {
			t.Errorf("GateFacts(offers) = %+v, %v; want no unsubscribe: it has the scope of its list", f, err)
		}
		return nil
	})
}

func testSuppression(t *testing.T, s *suite) {
	h1, h2 := []byte("suppr-hash-1\x00"), []byte("suppr-hash-2")
	s.update(t, func(tx Tx) error {
		return tx.AddSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "unsubscribed", CreatedAt: t0})
	})
	s.update(t, func(tx Tx) error {
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "bounced", CreatedAt: t1}); err != nil {
			return fmt.Errorf("repeat AddSuppression: %w", err)
		}
		return tx.AddSuppression(s.ctx, consent.Suppression{Hash: h2, Reason: "erased", CreatedAt: t1})
	})
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			hash []byte
			want string
		}{{h1, "unsubscribed"}, {h2, "erased"}} {
			got, err := tx.SuppressionReason(s.ctx, c.hash)
			if err != nil {
				return err
			}
			if got != c.want {
				t.Errorf("SuppressionReason(%q) = %q, want %q", c.hash, got, c.want)
			}
		}
		return nil
	})
	// PutSuppression replaces the entry held (reason and time), and adds one that is not.
	h3 := []byte("suppr-hash-3")
	s.update(t, func(tx Tx) error {
		if err := tx.PutSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "erased", CreatedAt: t2}); err != nil {
			return err
		}
		return tx.PutSuppression(s.ctx, consent.Suppression{Hash: h3, Reason: "erased", CreatedAt: t1})
	})
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			hash []byte
			at   time.Time
		}{{h1, t2}, {h3, t1}} {
			got, err := tx.Suppression(s.ctx, c.hash)
			if err != nil {
				return err
			}
			if got.Reason != "erased" || !bytes.Equal(got.Hash, c.hash) {
				t.Errorf("Suppression(%q) after PutSuppression = %+v; want erased", c.hash, got)
			}
			checkTime(t, "CreatedAt after PutSuppression", got.CreatedAt, c.at)
		}
		_, err := tx.Suppression(s.ctx, []byte("suppr-none"))
		wantKind(t, "Suppression(absent)", err, apperr.NotFound)
		return nil
	})
}

func testGateFacts(t *testing.T, s *suite) {
	r := minimalRecord("g-1", contact.KindContact, []byte("g-index"), nil)
	r.SuppressionHash = []byte("g-sup")
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		return tx.InsertContact(s.ctx, r)
	})
	s.update(t, func(tx Tx) error {
		f, err := tx.GateFacts(s.ctx, "g-1", "newsletter")
		if err != nil {
			return err
		}
		if f.Current != nil || f.Suppressed || f.Restricted || f.ObjectedPurpose || f.ObjectedDM || f.PendingApproval {
			t.Errorf("GateFacts of a bare contact = %+v; want all false and no state", f)
		}
		_, err = tx.GateFacts(s.ctx, "g-missing", "newsletter")
		wantKind(t, "GateFacts(missing)", err, apperr.NotFound)
		c := current("g-1", "newsletter", consent.Given, "ev-g")
		c.NeedsReconsent = true
		if err := tx.PutCurrentConsent(s.ctx, c); err != nil {
			return err
		}
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: []byte("g-sup"), Reason: consent.SuppressionBounced, CreatedAt: t0}); err != nil {
			return err
		}
		for _, scope := range []string{"newsletter", consent.ScopeDirectMarketing} {
			if err := tx.PutObjection(s.ctx, consent.Objection{ContactID: "g-1", Scope: scope, Method: consent.MethodAPI, OccurredAt: t0, RecordedAt: t1, Actor: "token:x"}); err != nil {
				return err
			}
		}
		e := consentEvent("ev-pending", "g-1", "newsletter", consent.Given, t1)
		e.Approval = "pending"
		if err := tx.InsertConsentEvent(s.ctx, e, nil); err != nil {
			return err
		}
		r.Restricted = true
		return tx.UpdateContact(s.ctx, r)
	})
	s.update(t, func(tx Tx) error {
		f, err := tx.GateFacts(s.ctx, "g-1", "newsletter")
		if err != nil {
			return err
		}
		if f.Current == nil || f.Current.State != consent.Given || !f.Current.NeedsReconsent || !f.Suppressed || !f.Restricted || !f.ObjectedPurpose || !f.ObjectedDM || !f.PendingApproval {
			t.Errorf("GateFacts = %+v (current %+v); want every fact set", f, f.Current)
		}
		if other, err := tx.GateFacts(s.ctx, "g-1", "other"); err != nil || other.ObjectedPurpose || other.Current != nil || !other.ObjectedDM {
			t.Errorf("GateFacts(other purpose) = %+v, %v; want only the direct-marketing objection", other, err)
		}
		// GateFactsFor answers the same for many contacts in one call, leaving out absent ones.
		if err := tx.InsertContact(s.ctx, minimalRecord("g-2", contact.KindContact, []byte("g-index-2"), nil)); err != nil {
			return err
		}
		many, err := tx.GateFactsFor(s.ctx, []string{"g-2", "g-missing", "g-1"}, "newsletter")
		if err != nil {
			return err
		}
		if len(many) != 2 || many["g-2"].Current != nil || many["g-2"].Restricted || many["g-2"].Suppressed || many["g-2"].ObjectedDM {
			t.Errorf("GateFactsFor = %+v; want g-1 and a bare g-2 only", many)
		}
		if g1 := many["g-1"]; g1.Current == nil || g1.Current.ContactID != "g-1" || g1.Current.State != consent.Given || !g1.Current.NeedsReconsent ||
			!g1.Suppressed || !g1.Restricted || !g1.ObjectedPurpose || !g1.ObjectedDM || !g1.PendingApproval {
			t.Errorf("GateFactsFor g-1 = %+v (current %+v); want every fact set, as GateFacts", g1, g1.Current)
		}
		if none, err := tx.GateFactsFor(s.ctx, nil, "newsletter"); err != nil || len(none) != 0 {
			t.Errorf("GateFactsFor(no ids) = %+v, %v; want none", none, err)
		}
		return nil
	})
}

func testObjectionsAndChanges(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("o-1", contact.KindContact, nil, nil)); err != nil {
			return err
		}
		o := consent.Objection{ContactID: "o-1", Scope: "offers", Method: consent.MethodGPC, OccurredAt: t0, RecordedAt: t1, Actor: "public"}
		if err := tx.PutObjection(s.ctx, o); err != nil {
			return err
		}
		return tx.AppendConsentChanges(s.ctx, []consent.Change{
			{ContactID: "o-1", Purpose: "offers", Change: "objected", OccurredAt: t0, RecordedAt: t1},
			{ContactID: "o-1", Purpose: "", Change: "restricted", OccurredAt: t1, RecordedAt: t2},
		})
	})
	s.update(t, func(tx Tx) error {
		os, err := tx.Objections(s.ctx, "o-1")
		if err != nil {
			return err
		}
		if len(os) != 1 || os[0].Scope != "offers" || os[0].Method != consent.MethodGPC || os[0].Actor != "public" {
			t.Errorf("Objections = %+v", os)
		} else {
			checkTime(t, "objection OccurredAt", os[0].OccurredAt, t0)
		}
		cs, err := tx.ConsentChanges(s.ctx, 0, 10)
		if err != nil {
			return err
		}
		if len(cs) != 2 || cs[0].Seq >= cs[1].Seq || cs[0].Change != "objected" || cs[1].Change != "restricted" || cs[1].Purpose != "" {
			t.Errorf("ConsentChanges = %+v", cs)
		}
		if after, err := tx.ConsentChanges(s.ctx, cs[0].Seq, 10); err != nil || len(after) != 1 || after[0].Change != "restricted" {
			t.Errorf("ConsentChanges after the first = %+v, %v", after, err)
		}
		if err := tx.DeleteObjection(s.ctx, "o-1", "offers"); err != nil {
			return err
		}
		wantKind(t, "DeleteObjection twice", tx.DeleteObjection(s.ctx, "o-1", "offers"), apperr.NotFound)
		return nil
	})
}

func testApprovalAndRepermission(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, id := range []string{"r-1", "r-2", "r-3", "r-4"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, contact.KindContact, nil, nil)); err != nil {
				return err
			}
		}
		e := consentEvent("ev-a", "r-1", "newsletter", consent.Given, t1)
		e.Approval = "pending"
		if err := tx.InsertConsentEvent(s.ctx, e, nil); err != nil {
			return err
		}
		old := current("r-1", "newsletter", consent.Given, "ev-a")
		old.OccurredAt = t0
		fresh := current("r-2", "newsletter", consent.Given, "ev-b")
		fresh.OccurredAt = t2
		expired := current("r-3", "newsletter", consent.Expired, "ev-c")
		reconsent := current("r-4", "newsletter", consent.Given, "ev-d")
		reconsent.OccurredAt = t2
		reconsent.NeedsReconsent = true
		for _, c := range []consent.Current{old, fresh, expired, reconsent} {
			if err := tx.PutCurrentConsent(s.ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		e, err := tx.ConsentEventByID(s.ctx, "r-1", "ev-a")
		if err != nil || e.Approval != "pending" {
			t.Errorf("ConsentEventByID = %+v, %v", e, err)
		}
		_, err = tx.ConsentEventByID(s.ctx, "r-2", "ev-a")
		wantKind(t, "ConsentEventByID of another contact", err, apperr.NotFound)
		if err := tx.SetConsentApproval(s.ctx, "ev-a", "approved", "token:second"); err != nil {
			return err
		}
		e, _ = tx.ConsentEventByID(s.ctx, "r-1", "ev-a")
		if e.Approval != "approved" || e.ApprovedBy != "token:second" {
			t.Errorf("after approval: %+v", e)
		}
		list, err := tx.RepermissionList(s.ctx, "newsletter", t1, "", 10)
		if err != nil {
			return err
		}
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ContactID)
		}
		if strings.Join(ids, ",") != "r-1,r-3,r-4" {
			t.Errorf("RepermissionList(valid from t1) = %v; want r-1 (given before), r-3 (expired), r-4 (needs re-consent)", ids)
		}
		page, err := tx.RepermissionList(s.ctx, "newsletter", time.Time{}, "r-3", 10)
		if err != nil || len(page) != 1 || page[0].ContactID != "r-4" {
			t.Errorf("RepermissionList(no validity, after r-3) = %+v, %v; want r-4", page, err)
		}
		return nil
	})
}

// testGateFactsRequests: the gate sees a contact's erasure or restriction request from its
// verification (bound to the contact, in_progress or extended) until it is closed; a request not
// yet verified, closed, or bound to someone else is no fact about the contact.
func testGateFactsRequests(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, id := range []string{"gr-1", "gr-2"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, contact.KindContact, []byte(id+"-index"), nil)); err != nil {
				return err
			}
		}
		return nil
	})
	rec := func(id string, typ dsr.Type) *dsr.Record {
		return &dsr.Record{Request: dsr.Request{ID: id, Type: typ, State: dsr.StateVerifying, Channel: dsr.ChannelPortal, ReceivedAt: t0, DueAt: t0.AddDate(0, 1, 0)},
			KeyVersion: 1, Sealed: map[string][]byte{}, UpdatedAt: t0, Version: 1}
	}
	erasure, restriction, other := rec("req-e", dsr.TypeErasure), rec("req-r", dsr.TypeRestriction), rec("req-o", dsr.TypeErasure)
	facts := func(tx Tx, id string) consent.Facts {
		t.Helper()
		f, err := tx.GateFacts(s.ctx, id, "newsletter")
		if err != nil {
			t.Fatal(err)
		}
		many, err := tx.GateFactsFor(s.ctx, []string{id}, "newsletter")
		if err != nil {
			t.Fatal(err)
		}
		if m := many[id]; m.ErasureRequested != f.ErasureRequested || m.RestrictionRequested != f.RestrictionRequested {
			t.Errorf("GateFactsFor(%s) = %+v; GateFacts says %+v", id, m, f)
		}
		return f
	}
	step := func(name string, change func(), wantErasure, wantRestriction bool) {
		t.Helper()
		s.update(t, func(tx Tx) error {
			change()
			for _, r := range []*dsr.Record{erasure, restriction, other} {
				err := tx.UpdateRequest(s.ctx, r)
				if apperr.Is(err, apperr.NotFound) {
					err = tx.InsertRequest(s.ctx, r)
				}
				if err != nil {
					return err
				}
			}
			if f := facts(tx, "gr-1"); f.ErasureRequested != wantErasure || f.RestrictionRequested != wantRestriction {
				t.Errorf("%s: GateFacts = erasure requested %v, restriction requested %v; want %v, %v", name, f.ErasureRequested, f.RestrictionRequested, wantErasure, wantRestriction)
			}
			if f := facts(tx, "gr-2"); f.ErasureRequested || f.RestrictionRequested {
				t.Errorf("%s: the other contact has facts %+v; want none", name, f)
			}
			return nil
		})
	}
	step("waiting for identity", func() {}, false, false)
	step("verified", func() {
		erasure.State, erasure.ContactID = dsr.StateInProgress, "gr-1"
		restriction.State, restriction.ContactID = dsr.StateInProgress, "gr-1"
		other.State, other.ContactID = dsr.StateRejected, "gr-2" // closed: no fact about gr-2
	}, true, true)
	step("extended", func() { erasure.State = dsr.StateExtended }, true, true)
	step("rejected and completed", func() {
		erasure.State, restriction.State = dsr.StateRejected, dsr.StateCompleted
	}, false, false)
}

// testAskCandidates: whom a consent-request campaign may ask for a purpose: contacts with an
// e-mail address whose consent lapsed (as RepermissionList) or was requested and not answered,
// after a cursor in contact id order, at most limit.
func testAskCandidates(t *testing.T, s *suite) {
	states := []struct {
		id, purpose string
		email       bool
		state       consent.State
		at          time.Time
		reconsent   bool
	}{
		{"ask-1", "newsletter", true, consent.Requested, t2, false},
		{"ask-2", "newsletter", false, consent.Requested, t2, false}, // no address
		{"ask-3", "newsletter", true, consent.Expired, t2, false},
		{"ask-4", "newsletter", true, consent.Given, t0, false}, // given before validFrom
		{"ask-5", "newsletter", true, consent.Given, t2, false},
		{"ask-6", "newsletter", true, consent.Withdrawn, t0, false},
		{"ask-7", "newsletter", true, consent.Given, t2, true},
		{"ask-8", "newsletter", true, consent.Refused, t0, false},
		{"ask-9", "offers", true, consent.Requested, t2, false}, // another purpose
	}
	s.update(t, func(tx Tx) error {
		for _, p := range []string{"newsletter", "offers"} {
			if err := tx.InsertPurpose(s.ctx, purpose(p)); err != nil {
				return err
			}
		}
		for _, c := range states {
			var idx []byte
			if c.email {
				idx = []byte("ask-index-" + c.id)
			}
			if err := tx.InsertContact(s.ctx, minimalRecord(c.id, contact.KindContact, idx, nil)); err != nil {
				return err
			}
			cur := current(c.id, c.purpose, c.state, "ev-"+c.id)
			cur.OccurredAt, cur.NeedsReconsent = c.at, c.reconsent
			if err := tx.PutCurrentConsent(s.ctx, cur); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		for _, c := range []struct {
			validFrom time.Time
			after     string
			limit     int
			want      []string
		}{
			{t1, "", 10, []string{"ask-1", "ask-3", "ask-4", "ask-7"}},
			{time.Time{}, "", 10, []string{"ask-1", "ask-3", "ask-7"}},
			{t1, "ask-1", 2, []string{"ask-3", "ask-4"}},
		} {
			got, err := tx.AskCandidates(s.ctx, "newsletter", c.validFrom, c.after, c.limit)
			if err != nil {
				return err
			}
			var ids []string
			for _, x := range got {
				ids = append(ids, x.ContactID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("AskCandidates(newsletter, valid from %s, after %q, %d) = %v; want %v", c.validFrom, c.after, c.limit, ids, c.want)
			}
		}
		got, err := tx.AskCandidates(s.ctx, "newsletter", t1, "", 1)
		if err == nil && len(got) == 1 {
			want := current("ask-1", "newsletter", consent.Requested, "ev-ask-1")
			want.OccurredAt = t2
			checkCurrent(t, got[0], want)
		}
		return nil
	})
}
