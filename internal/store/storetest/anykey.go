package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// testLookupsUnderEveryKey: the lookups by keyed hash take an address's hash under each key of
// the blind-index keyset (keys rotate --bidx) and match any: ContactByEmailIndex and Suppression
// answer with the first of the hashes given that has a match, ContactsByPhoneIndex with every
// contact of any, PurposeUnsubscribedAt with the earliest time, ContactBySuppressionHash with the
// hash the contact stores; DeleteSuppression removes the entries of every hash given.
func testLookupsUnderEveryKey(t *testing.T, s *suite) {
	oldIdx, newIdx, none := []byte("ak-idx-old"), []byte("ak-idx-new"), []byte("ak-none")
	a := minimalRecord("ak-1", "contact", oldIdx, []byte("ak-phone-old"))
	a.SuppressionHash = []byte("ak-sup-old")
	b := minimalRecord("ak-2", "contact", newIdx, []byte("ak-phone-new"))
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		if err := tx.InsertContact(s.ctx, a); err != nil {
			return err
		}
		if err := tx.InsertContact(s.ctx, b); err != nil {
			return err
		}
		for _, h := range []string{"ak-sup-old", "ak-sup-new"} {
			reason := map[string]string{"ak-sup-old": consent.SuppressionErased, "ak-sup-new": consent.SuppressionBounced}[h]
			if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: []byte(h), Reason: reason, CreatedAt: t0, RecordedAt: t0}); err != nil {
				return err
			}
		}
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{
			{Hash: []byte("ak-sup-old"), Purpose: "newsletter", At: t0, RecordedAt: t0},
			{Hash: []byte("ak-sup-new"), Purpose: "newsletter", At: t1, RecordedAt: t1},
		})
	})
	s.update(t, func(tx Tx) error {
		if got, err := tx.ContactByEmailIndex(s.ctx, none, oldIdx); err != nil || got.ID != "ak-1" {
			t.Errorf("ContactByEmailIndex(none, old) = %v, %v; want ak-1", got, err)
		}
		if got, err := tx.ContactByEmailIndex(s.ctx, newIdx, oldIdx); err != nil || got.ID != "ak-2" {
			t.Errorf("ContactByEmailIndex(new, old) = %v, %v; want ak-2, the first given's", got, err)
		}
		_, err := tx.ContactByEmailIndex(s.ctx, none)
		wantKind(t, "ContactByEmailIndex(none)", err, apperr.NotFound)
		phones, err := tx.ContactsByPhoneIndex(s.ctx, [][]byte{[]byte("ak-phone-new"), []byte("ak-phone-old")}, 10)
		if err != nil || len(phones) != 2 || phones[0].ID != "ak-1" || phones[1].ID != "ak-2" {
			t.Errorf("ContactsByPhoneIndex(both) = %d contacts, %v; want ak-1 and ak-2 in id order", len(phones), err)
		}
		if got, err := tx.Suppression(s.ctx, none, []byte("ak-sup-new"), []byte("ak-sup-old")); err != nil || got.Reason != consent.SuppressionErased || string(got.Hash) != "ak-sup-old" {
			t.Errorf("Suppression(none, new, old) = %+v, %v; want the old hash's erasure, which outranks the new hash's bounce (consent.Outranks)", got, err)
		}
		if got, err := tx.Suppression(s.ctx, []byte("ak-sup-new"), none); err != nil || got.Reason != consent.SuppressionBounced {
			t.Errorf("Suppression(new, none) = %+v, %v; want the new hash's entry", got, err)
		}
		if r, err := tx.SuppressionReason(s.ctx, none, []byte("ak-sup-old")); err != nil || r != consent.SuppressionErased {
			t.Errorf("SuppressionReason(none, old) = %q, %v; want erased", r, err)
		}
		if at, err := tx.PurposeUnsubscribedAt(s.ctx, [][]byte{[]byte("ak-sup-new"), []byte("ak-sup-old")}, "newsletter"); err != nil || !at.Equal(t0) {
			t.Errorf("PurposeUnsubscribedAt(new, old) = %v, %v; want the earliest, %v", at, err, t0)
		}
		if id, stored, err := tx.ContactBySuppressionHash(s.ctx, []byte("ak-sup-new"), []byte("ak-sup-old")); err != nil || id != "ak-1" || !bytes.Equal(stored, []byte("ak-sup-old")) {
			t.Errorf("ContactBySuppressionHash(new, old) = %q, %q, %v; want ak-1 and the hash it stores", id, stored, err)
		}
		if err := tx.DeleteSuppression(s.ctx, []byte("ak-sup-new"), []byte("ak-sup-old")); err != nil {
			return err
		}
		_, err = tx.Suppression(s.ctx, []byte("ak-sup-new"), []byte("ak-sup-old"))
		wantKind(t, "Suppression after DeleteSuppression of both", err, apperr.NotFound)
		return nil
	})
}

// testMovePurposeUnsubscribes: an address's unsubscribes under older keys' hashes move to the
// hash its contact stores, each purpose's earliest time kept (a later one held under the new
// hash gives way), and none is left under the old hashes.
func testMovePurposeUnsubscribes(t *testing.T, s *suite) {
	to, old1, old2 := []byte("mpu-new"), []byte("mpu-old-1"), []byte("mpu-old-2")
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"newsletter", "offers", "tips"} {
			if err := tx.InsertPurpose(s.ctx, purpose(id)); err != nil {
				return err
			}
		}
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{
			{Hash: old1, Purpose: "newsletter", At: t1, RecordedAt: t1},
			{Hash: old2, Purpose: "newsletter", At: t0, RecordedAt: t0},
			{Hash: old1, Purpose: "offers", At: t0, RecordedAt: t0},
			{Hash: to, Purpose: "offers", At: t1, RecordedAt: t1},
			{Hash: to, Purpose: "tips", At: t1, RecordedAt: t1},
		})
	})
	s.update(t, func(tx Tx) error {
		if err := tx.MovePurposeUnsubscribes(s.ctx, to, [][]byte{old1, old2}); err != nil {
			return err
		}
		for purpose, want := range map[string]time.Time{"newsletter": t0, "offers": t0, "tips": t1} {
			at, err := tx.PurposeUnsubscribedAt(s.ctx, [][]byte{to}, purpose)
			if err != nil || !at.Equal(want) {
				t.Errorf("PurposeUnsubscribedAt(new, %s) after the move = %v, %v; want %v", purpose, at, err, want)
			}
		}
		got, err := tx.PurposeUnsubscribesFor(s.ctx, [][]byte{old1, old2}, "newsletter")
		if err != nil || len(got) != 0 {
			t.Errorf("unsubscribes left under the old hashes: %v, %v; want none", got, err)
		}
		return tx.MovePurposeUnsubscribes(s.ctx, to, nil)
	})
}
