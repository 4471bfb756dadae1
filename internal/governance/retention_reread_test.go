package governance_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
)

// afterRead is a RetentionStore that runs between once after the first candidate read returns:
// what staff or the person do while a sweep is between its read and its erasures.
type afterRead struct {
	governance.RetentionStore
	between func()
}

func (s *afterRead) View(ctx context.Context, fn func(governance.RetentionTx) error) error {
	err := s.RetentionStore.View(ctx, fn)
	if f := s.between; f != nil {
		s.between = nil
		f()
	}
	return err
}

// TestRetentionSweepRereadsTheRuleWhenErasing (review of issue 12): Policy.Erases decides over
// candidate facts read in a View transaction, and each erasure is a later, separate
// transaction (contact.Service.Erase) that does not look again. Whatever happens in between
// (a batch is 500 erasures, each with a checkpoint) is not seen: a legal hold placed by staff,
// a consent the person gives, a restriction, are all erased over. Policy.Erases promises such a
// contact "is never erased"; the erasure must re-check the rule in its own transaction
// (contact.Service.EraseGuarded, as dsr.Service.EraseContact does).
func TestRetentionSweepRereadsTheRuleWhenErasing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(ctx context.Context, a *app.App, id string) error
	}{
		{"legal hold placed", func(ctx context.Context, a *app.App, id string) error {
			return a.Retention.SetLegalHold(ctx, id, true)
		}},
		{"consent given", func(ctx context.Context, a *app.App, id string) error {
			_, err := a.Consent.Record(ctx, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
			return err
		}},
		{"restricted", func(ctx context.Context, a *app.App, id string) error {
			_, err := a.Contacts.SetRestricted(ctx, id, true)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return now } })
			ret := *a.Retention
			if _, err := ret.CreatePolicy(ctx, governance.Policy{ID: "leads-30-days", Kind: contact.KindLead, AfterDays: 30}); err != nil {
				t.Fatal(err)
			}
			c, err := a.Contacts.Create(ctx, contact.Input{Kind: contact.KindLead, Email: "kept.by.staff@example.org"})
			if err != nil {
				t.Fatal(err)
			}
			now = now.AddDate(0, 0, 60)
			ret.Store = &afterRead{RetentionStore: ret.Store, between: func() {
				if err := tc.between(ctx, a, c.ID); err != nil {
					t.Fatal(err)
				}
			}}
			res, err := ret.Sweep(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Contacts.Get(ctx, c.ID); err != nil {
				t.Errorf("%s between the candidate read and the erasure: the sweep erased the contact anyway (%+v; Get: %v)", tc.name, res, err)
			}
		})
	}
}
