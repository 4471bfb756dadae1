package storetest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/personal"
	"github.com/tillit/tillit/internal/share"
)

// marker returns bytes that occur nowhere by chance, naming what they stand for.
func marker(what string) []byte {
	b := make([]byte, 12)
	rand.Read(b)
	return []byte("TILLIT-REMNANT-" + what + "-" + hex.EncodeToString(b))
}

// personFixture stores a person with a row in every holding erasure deletes (personal.Holdings), each holding a
// marker where the table holds bytes of the person (sealed fields larger than a page included,
// so that overflow pages are read too), and returns the markers by what they stand for.
func personFixture(t *testing.T, s *suite, id string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, what := range []string{"notes", "overflow", "email index", "phone index", "wrapped key", "evidence", "message", "bundle", "optin link", "unsubscribe link"} {
		m[what] = marker(what)
	}
	rec := minimalRecord(id, contact.KindContact, m["email index"], m["phone index"])
	rec.SuppressionHash = []byte("sup-" + id)
	rec.Sealed = map[string][]byte{"notes": m["notes"], "custom": append(bytes.Repeat([]byte{0x5a}, 9000), m["overflow"]...)}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertDataKey(s.ctx, id, 1, m["wrapped key"], t0); err != nil {
			return err
		}
		if err := tx.InsertContact(s.ctx, rec); err != nil {
			return err
		}
		if err := tx.InsertConsentEvent(s.ctx, consentEvent("ev-"+id, id, "newsletter", consent.Given, t0), m["evidence"]); err != nil {
			return err
		}
		if err := tx.PutCurrentConsent(s.ctx, current(id, "newsletter", consent.Given, "ev-"+id)); err != nil {
			return err
		}
		if err := tx.PutObjection(s.ctx, consent.Objection{ContactID: id, Scope: consent.ScopeDirectMarketing, Method: consent.MethodAPI, OccurredAt: t0, RecordedAt: t0, Actor: "token:a"}); err != nil {
			return err
		}
		if err := tx.AddFormerEmail(s.ctx, id, []byte("former-"+id)); err != nil {
			return err
		}
		msg := entry("mail-"+id, id, "optin_confirm", t0)
		msg.Sealed, msg.CampaignID = m["message"], "camp-erasure"
		if err := tx.InsertOutbox(s.ctx, msg); err != nil {
			return err
		}
		if err := tx.InsertOptinToken(s.ctx, optin.Token{Hash: m["optin link"], ContactID: id, Purposes: []string{"newsletter"}, PolicyVersions: map[string]string{}, CreatedAt: t0, ExpiresAt: t2}); err != nil {
			return err
		}
		if err := tx.InsertUnsubscribeToken(s.ctx, m["unsubscribe link"], optin.Link{ContactID: id, Purpose: "newsletter", Kind: optin.LinkUnsubscribe}, t0); err != nil {
			return err
		}
		if err := tx.InsertExport(s.ctx, dsr.Export{ID: "export-" + id, ContactID: id, TokenHash: []byte("xt-" + id), CreatedAt: t0, ExpiresAt: t2, Bytes: 1, Sealed: m["bundle"]}); err != nil {
			return err
		}
		for i, allowed := range []bool{true, false} { // one disclosure kept (GDPR Art. 19), one refused and erased
			if err := tx.InsertDisclosure(s.ctx, share.Disclosure{ID: fmt.Sprintf("dis-%s-%d", id, i), ContactID: id, ProcessorID: "pr-erasure", Purpose: "newsletter",
				Fields: []string{"email"}, Allowed: allowed, Reason: "no_consent", Actor: "token:a", At: t0}); err != nil {
				return err
			}
		}
		return tx.AddCampaignSkips(s.ctx, "camp-erasure", []campaign.Skip{{ContactID: id, Reason: "objected"}})
	})
	return m
}

// testErasureLeavesNothing checks DESIGN §4 (GDPR Art. 17) at the store: after the writes of an
// erasure (contact.Erase's: the data key, the contact, the ledger entry, the change, the audit
// event) and Purge, every holding the personal-data register (personal.Holdings) says erasure
// deletes holds no row of the person (PersonalFootprint), another person keeps theirs, and, where the backend can look
// (Backend.Remnants), no byte of the person's sealed fields, indexes, key, evidence, messages,
// bundle or links remains in its storage.
func testErasureLeavesNothing(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		if err := tx.InsertProcessor(s.ctx, processor("pr-erasure")); err != nil {
			return err
		}
		return tx.InsertCampaign(s.ctx, campaign.Campaign{ID: "camp-erasure", Kind: campaign.KindMarketing, Purpose: "newsletter", Subject: "s", Text: "t", CreatedAt: t0})
	})
	gone, kept := personFixture(t, s, "er-gone"), personFixture(t, s, "er-kept")
	holdings := personal.Holdings()
	footprint := func(id string) map[string]int {
		var out map[string]int
		s.view(t, func(tx Tx) error {
			var err error
			out, err = tx.PersonalFootprint(s.ctx, id)
			return err
		})
		for _, h := range holdings {
			if _, ok := out[h.ID]; !ok {
				t.Errorf("PersonalFootprint counts no rows for holding %s: map it to the backend's tables", h.ID)
			}
		}
		for got := range out {
			if _, ok := personal.Find(got); !ok {
				t.Errorf("PersonalFootprint counts %s, which the personal-data register does not have", got)
			}
		}
		return out
	}
	before := footprint("er-gone")
	for _, h := range holdings {
		if h.Deletes() && before[h.ID] == 0 {
			t.Errorf("before erasure the person has no row in holding %s: personFixture must write to every holding erasure deletes", h.ID)
		}
	}
	if err := s.h.Purge(s.ctx); err != nil {
		t.Fatal(err)
	}
	for what, m := range gone {
		if places := s.remnants(t, m); len(places) == 0 {
			t.Fatalf("before erasure the %s marker is nowhere: the case cannot see remnants", what)
		}
	}
	s.update(t, func(tx Tx) error {
		if err := tx.DeleteDataKey(s.ctx, "er-gone"); err != nil {
			return err
		}
		if err := tx.DeleteContact(s.ctx, "er-gone"); err != nil {
			return err
		}
		if err := tx.AppendErasure(s.ctx, "er-gone", t2, [][]byte{[]byte("sup-er-gone"), []byte("former-er-gone")}); err != nil {
			return err
		}
		if err := tx.AppendConsentChanges(s.ctx, []consent.Change{{ContactID: "er-gone", Change: "erased", OccurredAt: t2, RecordedAt: t2}}); err != nil {
			return err
		}
		ev := audit.Event{At: t2, Actor: audit.Actor{Kind: audit.ActorToken, ID: "tok-dpo"}, Action: "contact.erase", ObjectKind: "contact", ObjectID: "er-gone"}
		return tx.AppendAudit(s.ctx, &ev)
	})
	if err := s.h.Purge(s.ctx); err != nil {
		t.Fatalf("Purge: %v%s", err, hint(err))
	}
	after, other := footprint("er-gone"), footprint("er-kept")
	for _, h := range holdings {
		if !h.Deletes() {
			continue
		}
		if after[h.ID] != 0 {
			t.Errorf("after erasure the person still has %d rows in holding %s", after[h.ID], h.ID)
		}
		if other[h.ID] != before[h.ID] {
			t.Errorf("the other person has %d rows in holding %s after the erasure; want %d", other[h.ID], h.ID, before[h.ID])
		}
	}
	for what, m := range gone {
		if places := s.remnants(t, m); len(places) != 0 {
			t.Errorf("after erasure and Purge the %s marker remains in %v", what, places)
		}
	}
	for what, m := range kept {
		if places := s.remnants(t, m); len(places) == 0 {
			t.Errorf("the other person's %s marker is gone too", what)
		}
	}
}
