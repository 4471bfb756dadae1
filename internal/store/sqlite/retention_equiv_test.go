package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
)

// TestRetentionDecisionEqualsTheOldSQL (review of issue 12; passes): over 600 random contacts
// (kinds, change times, consent events with random occurred and recorded times, current states,
// legal holds, restrictions) and every kind, purpose and period, RetentionCandidates read in
// batches of 50 and decided by governance.Policy.Erases pick exactly the contacts the SQL before
// issue 12 (oldExpired) picked, in the same order.
func TestRetentionDecisionEqualsTheOldSQL(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(1, 2))
	purposes := []string{"newsletter", "offers", "events"}
	rt := func() time.Time {
		return base.Add(-time.Duration(r.IntN(90*24)) * time.Hour).Add(time.Duration(r.IntN(1e9)))
	}
	err = db.Update(ctx, func(tx *Tx) error {
		for _, p := range purposes {
			if err := tx.InsertPurpose(ctx, consent.Purpose{ID: p, Name: p, LawfulBasis: consent.BasisConsent, RetentionDays: 1, CreatedAt: base}); err != nil {
				return err
			}
		}
		for i := range 600 {
			id := fmt.Sprintf("c-%05d", i)
			kind := contact.KindLead
			if r.IntN(3) == 0 {
				kind = contact.KindContact
			}
			u := rt()
			if err := tx.InsertContact(ctx, &contact.Record{ID: id, Kind: kind, KeyVersion: 1, EmailIndex: []byte(id), Sealed: map[string][]byte{"notes": []byte("x")}, CreatedAt: u, UpdatedAt: u, Version: 1}); err != nil {
				return err
			}
			if r.IntN(10) == 0 {
				tx.SetLegalHold(ctx, id, true)
			}
			if r.IntN(10) == 0 {
				tx.Exec(ctx, "UPDATE contacts SET restricted = 1 WHERE id = ?", id)
			}
			for e := range r.IntN(4) {
				p := purposes[r.IntN(3)]
				st := []consent.State{consent.Given, consent.Withdrawn, consent.Refused, consent.Requested}[r.IntN(4)]
				ev := &consent.Event{ID: fmt.Sprintf("e-%s-%d", id, e), ContactID: id, Purpose: p, State: st, Method: consent.MethodWebForm,
					PolicyVersions: map[string]string{}, OccurredAt: rt(), RecordedAt: rt(), Actor: "t"}
				if err := tx.InsertConsentEvent(ctx, ev, nil); err != nil {
					return err
				}
				if r.IntN(2) == 0 {
					if err := tx.PutCurrentConsent(ctx, consent.Current{ContactID: id, Purpose: p, State: st, LawfulBasis: consent.BasisConsent, Method: consent.MethodWebForm, OccurredAt: ev.OccurredAt, PolicyVersions: map[string]string{}, EventID: ev.ID}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []contact.Kind{contact.KindLead, contact.KindContact} {
		for _, purpose := range append([]string{""}, purposes...) {
			for _, days := range []int{1, 7, 20, 30, 45, 60, 89} {
				p := governance.Policy{Kind: kind, Purpose: purpose, AfterDays: days}
				var old, neu []string
				db.Update(ctx, func(tx *Tx) error {
					for after := ""; ; {
						ids, err := oldExpired(ctx, tx, kind, purpose, base.AddDate(0, 0, -days), after, 50)
						if err != nil {
							return err
						}
						old = append(old, ids...)
						if len(ids) < 50 {
							return nil
						}
						after = ids[len(ids)-1]
					}
				})
				db.View(ctx, func(tx *Tx) error {
					for after := ""; ; {
						cs, err := tx.RetentionCandidates(ctx, governance.CandidateQuery{Kind: kind, IdleBefore: p.Cutoff(base), After: after, Limit: 50})
						if err != nil {
							return err
						}
						for _, c := range cs {
							if p.Erases(c, base) {
								neu = append(neu, c.ContactID)
							}
						}
						if len(cs) < 50 {
							return nil
						}
						after = cs[len(cs)-1].ContactID
					}
				})
				if !slices.Equal(old, neu) {
					t.Errorf("%+v: old %d %v new %d %v", p, len(old), old, len(neu), neu)
				}
				if testing.Verbose() {
					t.Logf("%v %q %d: %d", kind, purpose, days, len(old))
				}
			}
		}
	}
}
