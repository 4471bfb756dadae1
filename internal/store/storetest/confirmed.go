package storetest

import (
	"testing"

	"github.com/tillit/tillit/internal/consent"
)

// testConfirmedOptIns: ConfirmedOptIns gives, by suppression hash, the latest confirmed double
// opt-in (dpv:ConsentGiven, method double-opt-in) of the contact holding the hash; a hash of a
// contact with only other events, or of no contact, is absent.
func testConfirmedOptIns(t *testing.T, s *suite) {
	h1, h2, h3 := []byte("co-hash-1\x00\xff"), []byte("co-hash-2"), []byte("co-hash-none")
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		a, b := minimalRecord("co-1", "contact", []byte("co-index-1"), nil), minimalRecord("co-2", "contact", []byte("co-index-2"), nil)
		a.SuppressionHash, b.SuppressionHash = h1, h2
		if err := insertContacts(s.ctx, tx, a, b, minimalRecord("co-3", "lead", nil, nil)); err != nil {
			return err
		}
		imported := consentEvent("co-e3", "co-2", "newsletter", consent.Given, t2)
		imported.Method = consent.MethodImport
		for _, e := range []*consent.Event{
			consentEvent("co-e1", "co-1", "newsletter", consent.Given, t0),
			consentEvent("co-e2", "co-1", "newsletter", consent.Given, t1),
			consentEvent("co-e4", "co-1", "newsletter", consent.Withdrawn, t2), // not a confirmation
			imported,
		} {
			if err := tx.InsertConsentEvent(s.ctx, e, nil); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.ConfirmedOptIns(s.ctx, [][]byte{h1, h2, h3})
		if err != nil {
			return err
		}
		if len(got) != 1 {
			t.Errorf("ConfirmedOptIns = %v; want co-hash-1 alone", got)
		}
		checkTime(t, "ConfirmedOptIns[co-hash-1]", got[string(h1)], t1)
		return nil
	})
}
