package governance_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
)

// TestDryRunCountsEachContactOnce (trial 12): with two policies that both cover a lead, a
// dry run's would_erase counts the lead once per policy (2), while the real sweep erases it once
// (erased 1); the README says would_erase is "the contacts a dry run found".
func TestDryRunCountsEachContactOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return now } })
	ret := a.Retention
	for _, p := range []governance.Policy{{ID: "leads-30", Kind: contact.KindLead, AfterDays: 30}, {ID: "leads-60", Kind: contact.KindLead, AfterDays: 60}} {
		if _, err := ret.CreatePolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Contacts.Create(ctx, contact.Input{Kind: contact.KindLead, Email: "old@example.org"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(90 * 24 * time.Hour)
	dry, err := ret.Sweep(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	real, err := ret.Sweep(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if real.Erased != 1 {
		t.Fatalf("sweep erased %d; want 1", real.Erased)
	}
	if dry.WouldErase != real.Erased {
		t.Errorf("dry run would_erase %d, the sweep then erased %d: the dry run counts a contact once per policy", dry.WouldErase, real.Erased)
	}
}
