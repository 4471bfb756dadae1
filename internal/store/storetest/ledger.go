package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
)

// testLedger: the erasure ledger keeps each erasure's hashes, and every Ledger… read returns what
// was decided at or after its since (the same instant included), and nothing else.
func testLedger(t *testing.T, s *suite) {
	h1, h2 := []byte("ledger-hash-1\x00\xff"), []byte("ledger-hash-2")
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("l-1", "lead", nil, nil), minimalRecord("l-2", "lead", nil, nil)); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, e := range []*consent.Event{
			consentEvent("lg-given", "l-1", "newsletter", consent.Given, t0),
			consentEvent("lg-refused", "l-1", "newsletter", consent.Refused, t0), // recorded t1
			consentEvent("lg-withdrawn", "l-2", "newsletter", consent.Withdrawn, t0),
		} {
			if e.ID == "lg-withdrawn" {
				e.RecordedAt = t2
			}
			if err := tx.InsertConsentEvent(s.ctx, e, []byte("sealed-"+e.ID)); err != nil {
				return err
			}
		}
		for _, o := range []consent.Objection{
			{ContactID: "l-1", Scope: "direct_marketing", Method: consent.MethodAPI, OccurredAt: t0, RecordedAt: t0, Actor: "token:a"},
			{ContactID: "l-2", Scope: "offers", Method: consent.MethodGPC, OccurredAt: t0, RecordedAt: t2, Actor: "public"},
		} {
			if err := tx.PutObjection(s.ctx, o); err != nil {
				return err
			}
		}
		r := minimalRecord("l-3", "lead", nil, nil)
		r.Restricted, r.UpdatedAt = true, t0 // restricted with no change on the stream: its last update
		if err := tx.InsertContact(s.ctx, r); err != nil {
			return err
		}
		r = minimalRecord("l-4", "lead", nil, nil)
		r.Restricted = true
		if err := tx.InsertContact(s.ctx, r); err != nil {
			return err
		}
		if err := tx.AppendConsentChanges(s.ctx, []consent.Change{{ContactID: "l-4", Change: "restricted", OccurredAt: t1, RecordedAt: t2}}); err != nil {
			return err
		}
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "erased", CreatedAt: t0, RecordedAt: t0}); err != nil {
			return err
		}
		// An imported cleaned row: bounced long before (its CLEAN_TIME), recorded at t2, which
		// --since reads.
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: h2, Reason: "bounced", CreatedAt: t0.Add(-time.Hour), RecordedAt: t2}); err != nil {
			return err
		}
		if err := tx.AppendErasure(s.ctx, "gone-1", t0, [][]byte{h1, h2}); err != nil {
			return err
		}
		if err := tx.AppendErasure(s.ctx, "gone-1", t2, nil); err != nil { // kept as it is
			return err
		}
		return tx.AppendErasure(s.ctx, "gone-2", t2, nil)
	})
	s.update(t, func(tx Tx) error {
		if ok, err := tx.ErasureRecorded(s.ctx, "gone-1"); err != nil || !ok {
			t.Errorf("ErasureRecorded(gone-1) = %v, %v; want true", ok, err)
		}
		if ok, err := tx.ErasureRecorded(s.ctx, "l-1"); err != nil || ok {
			t.Errorf("ErasureRecorded(l-1) = %v, %v; want false", ok, err)
		}
		es, err := tx.LedgerErasures(s.ctx, time.Time{})
		if err != nil {
			return err
		}
		if len(es) != 2 || es[0].ContactID != "gone-1" || len(es[0].SuppressionHashes) != 2 || !bytes.Equal(es[0].SuppressionHashes[0], h1) ||
			!bytes.Equal(es[0].SuppressionHashes[1], h2) || es[1].ContactID != "gone-2" || len(es[1].SuppressionHashes) != 0 {
			t.Errorf("LedgerErasures = %+v; want gone-1 with both hashes, then gone-2 with none", es)
		} else {
			checkTime(t, "ErasedAt", es[0].ErasedAt, t0)
		}
		return nil
	})
	for _, c := range []struct {
		since                                            time.Time
		erasures, sups, events, objections, restrictions []string
	}{
		{time.Time{}, []string{"gone-1", "gone-2"}, []string{"erased", "bounced"}, []string{"lg-refused", "lg-withdrawn"}, []string{"l-1", "l-2"}, []string{"l-3", "l-4"}},
		{t1, []string{"gone-2"}, []string{"bounced"}, []string{"lg-refused", "lg-withdrawn"}, []string{"l-2"}, []string{"l-4"}},
		{t2, []string{"gone-2"}, []string{"bounced"}, []string{"lg-withdrawn"}, []string{"l-2"}, nil},
		{t2.Add(time.Nanosecond), nil, nil, nil, nil, nil},
	} {
		s.update(t, func(tx Tx) error {
			var got [5][]string
			es, err := tx.LedgerErasures(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, e := range es {
				got[0] = append(got[0], e.ContactID)
			}
			sups, err := tx.LedgerSuppressions(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, x := range sups {
				got[1] = append(got[1], x.Reason)
				if x.Reason == "bounced" {
					checkTime(t, "CreatedAt of the bounce", x.CreatedAt, t0.Add(-time.Hour))
					checkTime(t, "RecordedAt of the bounce", x.RecordedAt, t2)
				}
			}
			evs, sealed, err := tx.LedgerConsentEvents(s.ctx, c.since)
			if err != nil {
				return err
			}
			for i, e := range evs {
				got[2] = append(got[2], e.ID)
				if string(sealed[i]) != "sealed-"+e.ID {
					t.Errorf("since %s: evidence of %s = %q", c.since, e.ID, sealed[i])
				}
			}
			objs, err := tx.LedgerObjections(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, o := range objs {
				got[3] = append(got[3], o.ContactID)
			}
			rs, err := tx.LedgerRestrictions(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, r := range rs {
				got[4] = append(got[4], r.ContactID)
				want := map[string]time.Time{"l-3": t0, "l-4": t1}[r.ContactID]
				checkTime(t, "RestrictedAt of "+r.ContactID, r.RestrictedAt, want)
			}
			for i, want := range [][]string{c.erasures, c.sups, c.events, c.objections, c.restrictions} {
				if !slices.Equal(got[i], want) {
					t.Errorf("since %s: read %d = %v; want %v", c.since, i, got[i], want)
				}
			}
			return nil
		})
	}
}

// testLedgerListUnsubscribes: LedgerListUnsubscribes returns the unsubscribes from purposes'
// lists recorded at or after since (the same instant included), by when they were recorded, not
// by when the person left (an UNSUB_TIME before since is still returned), with both times; a
// second entry for the same address and purpose keeps the first one's times.
func testLedgerListUnsubscribes(t *testing.T, s *suite) {
	a, b := []byte("llu-a"), []byte("llu-b\x00\xff")
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"newsletter", "offers"} {
			if err := tx.InsertPurpose(s.ctx, purpose(id)); err != nil {
				return err
			}
		}
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{
			{Hash: a, Purpose: "newsletter", At: t0, RecordedAt: t1},
			{Hash: b, Purpose: "offers", At: t0, RecordedAt: t2},
		})
	})
	s.update(t, func(tx Tx) error {
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{{Hash: a, Purpose: "newsletter", At: t1, RecordedAt: t2}})
	})
	for _, c := range []struct {
		since time.Time
		want  []string
	}{
		{time.Time{}, []string{"newsletter", "offers"}},
		{t1, []string{"newsletter", "offers"}},
		{t1.Add(time.Nanosecond), []string{"offers"}},
		{t2, []string{"offers"}},
		{t2.Add(time.Nanosecond), nil},
	} {
		s.update(t, func(tx Tx) error {
			us, err := tx.LedgerListUnsubscribes(s.ctx, c.since)
			if err != nil {
				return err
			}
			var got []string
			for _, u := range us {
				got = append(got, u.Purpose)
				hash, recorded := map[string][]byte{"newsletter": a, "offers": b}[u.Purpose], map[string]time.Time{"newsletter": t1, "offers": t2}[u.Purpose]
				if !bytes.Equal(u.Hash, hash) {
					t.Errorf("since %s: %s hash %x; want %x", c.since, u.Purpose, u.Hash, hash)
				}
				checkTime(t, "At of "+u.Purpose, u.At, t0)
				checkTime(t, "RecordedAt of "+u.Purpose, u.RecordedAt, recorded)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("LedgerListUnsubscribes(since %s) = %v; want %v", c.since, got, c.want)
			}
			return nil
		})
	}
}
