package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/token"
)

// testRetentionPolicies: a policy comes back as written; a taken id is a Conflict naming it; a
// deleted policy is gone; PurposeBasis answers from the purpose, ok false for none.
func testRetentionPolicies(t *testing.T, s *suite) {
	leads := governance.Policy{ID: "rp-leads", Kind: contact.KindLead, Purpose: "newsletter", AfterDays: 30, CreatedAt: t0}
	all := governance.Policy{ID: "rp-all", Kind: contact.KindContact, AfterDays: 730, CreatedAt: t1}
	terms := purpose("terms")
	terms.LawfulBasis, terms.Acceptance = consent.BasisContract, true
	s.update(t, func(tx Tx) error {
		for _, p := range []consent.Purpose{purpose("newsletter"), terms} {
			if err := tx.InsertPurpose(s.ctx, p); err != nil {
				return err
			}
		}
		for _, p := range []governance.Policy{leads, all} {
			if err := tx.InsertPolicy(s.ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	err := s.h.Update(s.ctx, func(tx Tx) error {
		return tx.InsertPolicy(s.ctx, governance.Policy{ID: "rp-all", Kind: contact.KindLead, AfterDays: 1, CreatedAt: t2})
	})
	if e := wantKind(t, "InsertPolicy(taken id)", err, apperr.Conflict); e != nil && e.ID != "rp-all" {
		t.Errorf("Conflict ID = %q; want rp-all", e.ID)
	}
	s.update(t, func(tx Tx) error {
		got, err := tx.Policies(s.ctx)
		if err != nil {
			return err
		}
		want := []governance.Policy{all, leads} // in id order (governance.Retention.Policies passes it on)
		if len(got) != 2 {
			t.Errorf("Policies = %+v; want %+v", got, want)
			return nil
		}
		for i := range want {
			checkTime(t, "policy "+want[i].ID+" CreatedAt", got[i].CreatedAt, want[i].CreatedAt)
			got[i].CreatedAt = want[i].CreatedAt
			if got[i] != want[i] {
				t.Errorf("Policies[%d] = %+v; want %+v", i, got[i], want[i])
			}
		}
		if err := tx.DeletePolicy(s.ctx, "rp-leads"); err != nil {
			return err
		}
		if got, err := tx.Policies(s.ctx); err != nil || len(got) != 1 || got[0].ID != "rp-all" {
			t.Errorf("Policies after DeletePolicy = %+v, %v; want rp-all only", got, err)
		}
		wantKind(t, "DeletePolicy(missing)", tx.DeletePolicy(s.ctx, "rp-leads"), apperr.NotFound)
		for _, c := range []struct {
			id                 string
			basis              string
			acceptance, wantOK bool
		}{{"newsletter", consent.BasisConsent, false, true}, {"terms", consent.BasisContract, true, true}, {"none", "", false, false}} {
			basis, acceptance, ok, err := tx.PurposeBasis(s.ctx, c.id)
			if err != nil || basis != c.basis || acceptance != c.acceptance || ok != c.wantOK {
				t.Errorf("PurposeBasis(%s) = %q, %v, %v, %v; want %q, %v, %v", c.id, basis, acceptance, ok, err, c.basis, c.acceptance, c.wantOK)
			}
		}
		return nil
	})
}

// testLegalHoldAndRestriction: a legal hold is set and lifted (NotFound for no contact);
// RestrictedAmong says which of the contacts are restricted, absent ones left out or false.
func testLegalHoldAndRestriction(t *testing.T, s *suite) {
	r := minimalRecord("lh-2", contact.KindContact, nil, nil)
	r.Restricted = true
	s.update(t, func(tx Tx) error {
		return insertContacts(s.ctx, tx, minimalRecord("lh-1", contact.KindContact, nil, nil), r)
	})
	s.update(t, func(tx Tx) error {
		if on, err := tx.LegalHold(s.ctx, "lh-1"); err != nil || on {
			t.Errorf("LegalHold of a new contact = %v, %v; want false", on, err)
		}
		if err := tx.SetLegalHold(s.ctx, "lh-1", true); err != nil {
			return err
		}
		wantKind(t, "SetLegalHold(missing)", tx.SetLegalHold(s.ctx, "lh-none", true), apperr.NotFound)
		_, err := tx.LegalHold(s.ctx, "lh-none")
		wantKind(t, "LegalHold(missing)", err, apperr.NotFound)
		return nil
	})
	s.update(t, func(tx Tx) error {
		if on, err := tx.LegalHold(s.ctx, "lh-1"); err != nil || !on {
			t.Errorf("LegalHold after SetLegalHold(true) = %v, %v; want true", on, err)
		}
		if on, err := tx.LegalHold(s.ctx, "lh-2"); err != nil || on {
			t.Errorf("LegalHold of the other contact = %v, %v; want false", on, err)
		}
		if err := tx.SetLegalHold(s.ctx, "lh-1", false); err != nil {
			return err
		}
		if on, err := tx.LegalHold(s.ctx, "lh-1"); err != nil || on {
			t.Errorf("LegalHold after SetLegalHold(false) = %v, %v; want false", on, err)
		}
		got, err := tx.RestrictedAmong(s.ctx, []string{"lh-1", "lh-2", "lh-none"})
		if err != nil {
			return err
		}
		if !got["lh-2"] || got["lh-1"] || got["lh-none"] {
			t.Errorf("RestrictedAmong = %v; want lh-2 only", got)
		}
		return nil
	})
}

// testBreaches: a breach comes back as written, every stored field (the deadline fields are
// derived, not stored); an update replaces it (NotFound when absent).
func testBreaches(t *testing.T, s *suite) {
	from, to, notified := t0, t1, t2
	b := &governance.Breach{ID: "br-1", Title: "Lost laptop", Description: "An unencrypted export", DetectedAt: t1, WindowFrom: &from, WindowTo: &to,
		ActorID: "tok-1", Categories: []string{"email", "phone"}, PeopleAffected: 12, RecordsAffected: 30, Risk: "high",
		InformPeople: "yes", Measures: "rotated keys", LikelyConsequences: "phishing", CreatedAt: t1, UpdatedAt: t1, Version: 1}
	other := &governance.Breach{ID: "br-2", Title: "t", DetectedAt: t0, Categories: []string{}, Risk: "none", CreatedAt: t0, UpdatedAt: t0, Version: 1}
	s.update(t, func(tx Tx) error {
		for _, x := range []*governance.Breach{b, other} {
			if err := tx.InsertBreach(s.ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	upd := *b
	upd.AuthorityNotifiedAt, upd.PeopleInformedAt, upd.Risk, upd.Version, upd.UpdatedAt = &notified, &notified, "low", 2, t2
	s.update(t, func(tx Tx) error {
		got, err := tx.BreachByID(s.ctx, "br-1")
		if err != nil {
			return err
		}
		checkBreach(t, got, b)
		_, err = tx.BreachByID(s.ctx, "br-none")
		wantKind(t, "BreachByID(missing)", err, apperr.NotFound)
		if err := tx.UpdateBreach(s.ctx, &upd); err != nil {
			return err
		}
		missing := *other
		missing.ID = "br-none"
		wantKind(t, "UpdateBreach(missing)", tx.UpdateBreach(s.ctx, &missing), apperr.NotFound)
		return nil
	})
	s.view(t, func(tx Tx) error {
		list, err := tx.ListBreaches(s.ctx)
		if err != nil {
			return err
		}
		if len(list) != 2 {
			t.Errorf("ListBreaches = %d; want 2", len(list))
			return nil
		}
		// The most recently detected first (governance.Breaches.List passes the order on).
		checkBreach(t, list[0], &upd)
		checkBreach(t, list[1], other)
		return nil
	})
}

// checkBreach compares a stored breach with want: every stored field, times as instants.
func checkBreach(t *testing.T, got, want *governance.Breach) {
	t.Helper()
	if got == nil {
		t.Errorf("breach %s: got nil", want.ID)
		return
	}
	g, w := *got, *want
	for _, p := range []struct {
		name      string
		got, want time.Time
	}{{"DetectedAt", g.DetectedAt, w.DetectedAt}, {"CreatedAt", g.CreatedAt, w.CreatedAt}, {"UpdatedAt", g.UpdatedAt, w.UpdatedAt}} {
		checkTime(t, "breach "+w.ID+" "+p.name, p.got, p.want)
	}
	for _, p := range []struct {
		name      string
		got, want *time.Time
	}{{"WindowFrom", g.WindowFrom, w.WindowFrom}, {"WindowTo", g.WindowTo, w.WindowTo},
		{"AuthorityNotifiedAt", g.AuthorityNotifiedAt, w.AuthorityNotifiedAt}, {"PeopleInformedAt", g.PeopleInformedAt, w.PeopleInformedAt}} {
		if (p.got == nil) != (p.want == nil) {
			t.Errorf("breach %s %s = %v; want %v", w.ID, p.name, p.got, p.want)
		} else if p.got != nil {
			checkTime(t, "breach "+w.ID+" "+p.name, *p.got, *p.want)
		}
	}
	g.DetectedAt, g.CreatedAt, g.UpdatedAt, g.WindowFrom, g.WindowTo, g.AuthorityNotifiedAt, g.PeopleInformedAt =
		w.DetectedAt, w.CreatedAt, w.UpdatedAt, w.WindowFrom, w.WindowTo, w.AuthorityNotifiedAt, w.PeopleInformedAt
	if !reflect.DeepEqual(g, w) {
		t.Errorf("breach = %+v; want %+v", g, w)
	}
}

// testBreachFacts: CountAffected counts the distinct contacts and the events about contacts in
// the window, both ends included, by one actor when given, leaving out refused reads and
// sharing's own events; for "processor:<id>" (a breach at a processor, governance) it counts
// the people whose data went to it up to the window's end and each disclosure. ActorKnown knows
// tokens (revoked too) and every audit actor.
func testBreachFacts(t *testing.T, s *suite) {
	ev := func(at time.Time, actor, action, kind, id string) *audit.Event {
		return &audit.Event{At: at, Actor: audit.Actor{Kind: audit.ActorToken, ID: actor}, Action: action, ObjectKind: kind, ObjectID: id}
	}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertToken(s.ctx, token.Token{ID: "tok-revoked", Name: "old", Role: token.RoleAgent, CreatedAt: t0}, []byte("bf-hash")); err != nil {
			return err
		}
		if err := tx.RevokeToken(s.ctx, "tok-revoked", t1); err != nil {
			return err
		}
		for _, e := range []*audit.Event{
			ev(t0, "tok-a", "contact.read", "contact", "bc-1"),
			ev(t1, "tok-a", "contact.read", "contact", "bc-1"),
			ev(t1, "tok-b", "contact.update", "contact", "bc-2"),
			ev(t1, "tok-b", "contact.read_refused", "contact", "bc-3"),
			ev(t1, "tok-b", "share.disclose", "contact", "bc-4"),
			ev(t1, "tok-b", "purpose.create", "purpose", "newsletter"),
			ev(t2, "tok-a", "contact.read", "contact", "bc-5"),
			ev(t2.Add(time.Nanosecond), "tok-a", "contact.read", "contact", "bc-6"),
		} {
			if err := tx.AppendAudit(s.ctx, e); err != nil {
				return err
			}
		}
		if err := insertContacts(s.ctx, tx, minimalRecord("bc-1", contact.KindContact, nil, nil), minimalRecord("bc-2", contact.KindContact, nil, nil)); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		if err := tx.InsertProcessor(s.ctx, processor("pr-a")); err != nil {
			return err
		}
		for _, d := range []share.Disclosure{
			{ID: "bd-1", ContactID: "bc-1", ProcessorID: "pr-a", Purpose: "newsletter", Fields: []string{"email"}, Allowed: true, Actor: "token:t", At: t0},
			{ID: "bd-2", ContactID: "bc-1", ProcessorID: "pr-a", Purpose: "newsletter", Fields: []string{"email"}, Allowed: true, Actor: "token:t", At: t1},
			{ID: "bd-3", ContactID: "bc-2", ProcessorID: "pr-a", Purpose: "newsletter", Fields: []string{"email"}, Reason: "no_consent", Actor: "token:t", At: t1},
			{ID: "bd-4", ContactID: "bc-2", ProcessorID: "pr-a", Purpose: "newsletter", Fields: []string{"email"}, Allowed: true, Actor: "token:t", At: t2},
		} {
			if err := tx.InsertDisclosure(s.ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		for _, c := range []struct {
			from, to        time.Time
			actor           string
			people, records int
		}{
			{t0, t2, "", 3, 4},               // bc-1 twice, bc-2, bc-5; not the refused read, the disclosure or the purpose
			{t1, t2, "", 3, 3},               // from t1 on
			{t0, t2, "tok-a", 2, 3},          // bc-1 twice and bc-5
			{t0, t1, "tok-b", 1, 1},          // bc-2
			{t0, t1, "processor:pr-a", 1, 2}, // bc-1's two disclosures up to t1; bc-2's was refused
			{t0, t2, "processor:pr-a", 2, 3},
		} {
			people, records, err := tx.CountAffected(s.ctx, c.from, c.to, c.actor)
			if err != nil || people != c.people || records != c.records {
				t.Errorf("CountAffected(%s, %s, %q) = %d, %d, %v; want %d, %d", c.from, c.to, c.actor, people, records, err, c.people, c.records)
			}
		}
		for id, want := range map[string]bool{"tok-revoked": true, "tok-a": true, "tok-b": true, "tok-none": false} {
			if known, err := tx.ActorKnown(s.ctx, id); err != nil || known != want {
				t.Errorf("ActorKnown(%s) = %v, %v; want %v", id, known, err, want)
			}
		}
		return nil
	})
}

// testDPARequests: a DPA request comes back as written, its signed text's SHA-256 in hex once
// signed; an update records the signature (NotFound when absent).
func testDPARequests(t *testing.T, s *suite) {
	a := &governance.DPARequest{ID: "dpa-a", Customer: "Acme AB", TemplateVersion: 2, Status: "requested", CreatedAt: t0, UpdatedAt: t0, Version: 1}
	b := &governance.DPARequest{ID: "dpa-b", Customer: "Beta Oy", TemplateVersion: 2, Status: "requested", CreatedAt: t1, UpdatedAt: t1, Version: 1}
	s.update(t, func(tx Tx) error {
		for _, r := range []*governance.DPARequest{a, b} {
			if err := tx.InsertDPARequest(s.ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	signedAt := t2
	signed := *a
	signed.Status, signed.SignedAt, signed.Signed, signed.UpdatedAt, signed.Version = "signed", &signedAt, "# Agreement\n\nSigned text.", t2, 2
	sum := sha256.Sum256([]byte(signed.Signed))
	signed.SHA256 = hex.EncodeToString(sum[:])
	s.update(t, func(tx Tx) error {
		got, err := tx.DPARequestByID(s.ctx, "dpa-b")
		if err != nil {
			return err
		}
		checkDPA(t, got, b)
		_, err = tx.DPARequestByID(s.ctx, "dpa-none")
		wantKind(t, "DPARequestByID(missing)", err, apperr.NotFound)
		if err := tx.UpdateDPARequest(s.ctx, &signed); err != nil {
			return err
		}
		missing := *b
		missing.ID = "dpa-none"
		wantKind(t, "UpdateDPARequest(missing)", tx.UpdateDPARequest(s.ctx, &missing), apperr.NotFound)
		return nil
	})
	s.view(t, func(tx Tx) error {
		list, err := tx.ListDPARequests(s.ctx)
		if err != nil {
			return err
		}
		if len(list) != 2 {
			t.Errorf("ListDPARequests = %d; want 2", len(list))
			return nil
		}
		// Newest first (governance.DPAs.List passes the order on).
		checkDPA(t, list[0], b)
		checkDPA(t, list[1], &signed)
		return nil
	})
}

// checkDPA compares a stored DPA request with want, times as instants.
func checkDPA(t *testing.T, got, want *governance.DPARequest) {
	t.Helper()
	if got == nil {
		t.Errorf("DPA request %s: got nil", want.ID)
		return
	}
	g, w := *got, *want
	checkTime(t, "DPA request "+w.ID+" CreatedAt", g.CreatedAt, w.CreatedAt)
	checkTime(t, "DPA request "+w.ID+" UpdatedAt", g.UpdatedAt, w.UpdatedAt)
	if (g.SignedAt == nil) != (w.SignedAt == nil) {
		t.Errorf("DPA request %s SignedAt = %v; want %v", w.ID, g.SignedAt, w.SignedAt)
	} else if g.SignedAt != nil {
		checkTime(t, "DPA request "+w.ID+" SignedAt", *g.SignedAt, *w.SignedAt)
	}
	g.CreatedAt, g.UpdatedAt, g.SignedAt = w.CreatedAt, w.UpdatedAt, w.SignedAt
	if g != w {
		t.Errorf("DPA request = %+v; want %+v", g, w)
	}
}
