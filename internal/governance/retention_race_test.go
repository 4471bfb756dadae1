package governance_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
)

// afterView runs then once, right after the first read-only transaction (the sweep's read of a
// batch of candidates) has committed: a change made between the decision and the erasure.
type afterView struct {
	governance.RetentionStore
	then func()
}

func (s *afterView) View(ctx context.Context, fn func(governance.RetentionTx) error) error {
	err := s.RetentionStore.View(ctx, fn)
	if s.then != nil {
		then := s.then
		s.then = nil
		then()
	}
	return err
}

// TestSweepDecidesAgainInTheErasure: a legal hold set after the sweep read its batch, and a
// contact converted to a customer in the same window, keep their contacts (GDPR Art. 17(3)(e)):
// the erasure's own transaction reads the facts again. The others of the batch go. (Found by the
// issue 12 trial: the sweep erased a contact put on hold after its decision.)
func TestSweepDecidesAgainInTheErasure(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return now } })
	ret := *a.Retention
	if _, err := ret.CreatePolicy(ctx, governance.Policy{ID: "leads-30-days", Kind: contact.KindLead, AfterDays: 30}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range []string{"a@example.org", "held-late@example.org", "c@example.org", "converted-late@example.org"} {
		c, err := a.Contacts.Create(ctx, contact.Input{Kind: contact.KindLead, Email: e})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	now = now.Add(60 * 24 * time.Hour)
	ret.Store = &afterView{RetentionStore: ret.Store, then: func() {
		if err := a.Retention.SetLegalHold(ctx, ids[1], true); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Contacts.Convert(ctx, ids[3]); err != nil {
			t.Fatal(err)
		}
	}}
	res, err := ret.Sweep(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ids[0], ids[2]}; res.Erased != 2 || len(res.Policies) != 1 || !slices.Equal(res.Policies[0].Contacts, want) {
		t.Errorf("sweep %+v; want exactly %v erased", res, want)
	}
	for i, id := range ids {
		_, err := a.Contacts.Get(ctx, id)
		if gone := apperr.Is(err, apperr.NotFound); gone != (i == 0 || i == 2) {
			t.Errorf("contact %d after the sweep: %v; want erased only for 0 and 2", i, err)
		}
	}
}
