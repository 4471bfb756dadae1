package governance_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/sqlite"
)

// TestRetentionSweepErasesExactlyTheExpired runs a sweep on a fixed clock over contacts that
// differ in one condition each, then again: only the expired leads go, once.
func TestRetentionSweepErasesExactlyTheExpired(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return now } })
	db, contacts, gate, ret := a.Store, a.Contacts, a.Consent, *a.Retention
	ret.Batch = 2
	if _, err := ret.CreatePolicy(ctx, governance.Policy{ID: "leads-30-days", Kind: contact.KindLead, AfterDays: 30}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []governance.Policy{{ID: "Bad Id", Kind: contact.KindLead, AfterDays: 1}, {ID: "x", Kind: "customer", AfterDays: 1}, {ID: "y", Kind: contact.KindLead}} {
		if _, err := ret.CreatePolicy(ctx, bad); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("CreatePolicy(%+v) = %v; want Invalid", bad, err)
		}
	}
	mk := func(kind contact.Kind, email string) string {
		c, err := contacts.Create(ctx, contact.Input{Kind: kind, Email: email})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	// Created 60 days before the sweep.
	expired1 := mk(contact.KindLead, "old1@example.org")
	expired2 := mk(contact.KindLead, "old2@example.org")
	expired3 := mk(contact.KindLead, "old3@example.org")
	withConsent := mk(contact.KindLead, "consented@example.org")
	gate.Record(ctx, consent.Event{ContactID: withConsent, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm})
	customer := mk(contact.KindContact, "customer@example.org")
	held := mk(contact.KindLead, "held@example.org")
	if err := ret.SetLegalHold(ctx, held, true); err != nil {
		t.Fatal(err)
	}
	restricted := mk(contact.KindLead, "restricted@example.org")
	contacts.SetRestricted(ctx, restricted, true)
	withdrawnLate := mk(contact.KindLead, "withdrew@example.org")
	now = now.Add(45 * 24 * time.Hour)
	// Withdrew 15 days before the sweep: a consent event inside the 30 days.
	gate.Record(ctx, consent.Event{ContactID: withdrawnLate, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick})
	recent := mk(contact.KindLead, "new@example.org")
	now = now.Add(15 * 24 * time.Hour)

	dry, err := ret.Sweep(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{expired1, expired2, expired3}
	if len(dry.Policies) != 1 || !slices.Equal(dry.Policies[0].Contacts, want) || dry.Erased != 0 || dry.WouldErase != 3 || !dry.DryRun {
		// A dry run said "erased": 3 while erasing no one.
		t.Fatalf("dry run %+v; want exactly %v", dry, want)
	}
	if b, _ := json.Marshal(dry); !strings.Contains(string(b), `"erased":0,"would_erase":3`) {
		t.Errorf("dry run as JSON: %s; want erased 0 and would_erase 3", b)
	}
	if _, err := contacts.Get(ctx, expired1); err != nil {
		t.Fatalf("the dry run erased: %v", err)
	}
	res, err := ret.Sweep(ctx, false)
	if err != nil || res.Erased != 3 || res.WouldErase != 0 || !slices.Equal(res.Policies[0].Contacts, want) {
		t.Fatalf("sweep %+v, %v; want exactly %v erased", res, err, want)
	}
	for _, id := range want {
		if _, err := contacts.Get(ctx, id); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("expired lead %s after the sweep: %v; want erased", id, err)
		}
	}
	for _, id := range []string{withConsent, customer, held, restricted, withdrawnLate, recent} {
		if _, err := contacts.Get(ctx, id); err != nil {
			t.Errorf("contact %s swept: %v; want kept", id, err)
		}
	}
	again, err := ret.Sweep(ctx, false)
	if err != nil || again.Erased != 0 {
		t.Errorf("second sweep %+v, %v; want nothing", again, err)
	}
	// The hold lifted, the lead is swept next time.
	ret.SetLegalHold(ctx, held, false)
	// (lifting the hold is not a change of the contact's data: it stays expired)
	if res, _ := ret.Sweep(ctx, false); res.Erased != 1 || res.Policies[0].Contacts[0] != held {
		t.Errorf("after the hold was lifted: %+v; want the held lead", res)
	}
	evs, _ := db.AuditEvents(ctx, store.AuditFilter{ObjectKind: "retention_policy", ObjectID: "leads-30-days", Limit: 10})
	sweeps := 0
	for _, e := range evs {
		if e.Action == "retention.sweep" && e.Actor.ID == "retention" {
			sweeps++
		}
	}
	if sweeps != 3 {
		t.Errorf("%d retention.sweep audit events; want 3 (the dry run writes none)", sweeps)
	}
}

// TestRetentionPolicyForAPurpose: a policy scoped to a purpose sweeps only the contacts collected
// for it; the sweep also deletes double opt-in links past their expiry.
func TestRetentionPolicyForAPurpose(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := apptest.New(t, func(c *app.Config) { c.Now = func() time.Time { return now } })
	db, contacts, gate, ret := a.Store, a.Contacts, a.Consent, a.Retention
	gate.CreatePurpose(ctx, consent.Purpose{ID: "events", Name: "Event invitations", LawfulBasis: consent.BasisConsent})
	if _, err := ret.CreatePolicy(ctx, governance.Policy{ID: "x", Kind: contact.KindContact, Purpose: "nope", AfterDays: 10}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("a policy for an unknown purpose: %v; want Invalid", err)
	}
	gate.CreatePurpose(ctx, consent.Purpose{ID: "crm", Name: "Customer care", LawfulBasis: consent.BasisLegitimateInterest})
	if _, err := ret.CreatePolicy(ctx, governance.Policy{ID: "y", Kind: contact.KindContact, Purpose: "crm", AfterDays: 10}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("a policy scoped to a legitimate-interest purpose: %v; want Invalid (it would match no one)", err)
	}
	if _, err := ret.CreatePolicy(ctx, governance.Policy{ID: "event-guests", Kind: contact.KindContact, Purpose: "events", AfterDays: 10}); err != nil {
		t.Fatal(err)
	}
	guest, _ := contacts.Create(ctx, contact.Input{Email: "guest@example.org"})
	gate.Record(ctx, consent.Event{ContactID: guest.ID, Purpose: "events", State: consent.Requested, Method: consent.MethodWebForm})
	customer, _ := contacts.Create(ctx, contact.Input{Email: "customer@example.org"})
	err := db.Update(ctx, func(tx store.Tx) error {
		return tx.InsertOptinToken(ctx, optin.Token{Hash: []byte("0123456789abcdef0123456789abcdef"), ContactID: guest.ID, Purposes: []string{"events"},
			CreatedAt: now, ExpiresAt: now.Add(72 * time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(20 * 24 * time.Hour)
	res, err := ret.Sweep(ctx, false)
	if err != nil || res.Erased != 1 || res.Policies[0].Contacts[0] != guest.ID || res.ExpiredLinks != 1 {
		t.Errorf("sweep %+v, %v; want the event guest erased (never confirmed) and the expired link deleted", res, err)
	}
	if _, err := contacts.Get(ctx, customer.ID); err != nil {
		t.Errorf("a contact never collected for events was swept: %v", err)
	}
}

// TestPolicyErases: the retention rule over facts, one row per fact that keeps a contact (and
// the edges of the period), from a lead that a 30-day policy erases.
func TestPolicyErases(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	cutoff := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC) // 30 days before now
	leads := governance.Policy{ID: "leads", Kind: contact.KindLead, AfterDays: 30}
	events := governance.Policy{ID: "events", Kind: contact.KindContact, Purpose: "events", AfterDays: 30}
	old := cutoff.Add(-time.Nanosecond)
	base := func() governance.Candidate {
		return governance.Candidate{ContactID: "c1", Kind: contact.KindLead, UpdatedAt: old.AddDate(0, -1, 0)}
	}
	for _, tc := range []struct {
		name   string
		policy governance.Policy
		edit   func(c *governance.Candidate)
		want   bool
	}{
		{"untouched lead", leads, func(c *governance.Candidate) {}, true},
		{"changed just before the cut-off", leads, func(c *governance.Candidate) { c.UpdatedAt = old }, true},
		{"changed at the cut-off", leads, func(c *governance.Candidate) { c.UpdatedAt = cutoff }, false},
		{"changed after the cut-off", leads, func(c *governance.Candidate) { c.UpdatedAt = now }, false},
		{"consent event just before the cut-off", leads, func(c *governance.Candidate) { c.LastConsentEvent = old }, true},
		{"consent event at the cut-off", leads, func(c *governance.Candidate) { c.LastConsentEvent = cutoff }, false},
		{"consent event after the cut-off", leads, func(c *governance.Candidate) { c.LastConsentEvent = now.Add(-time.Hour) }, false},
		{"the cut-off in another zone", leads, func(c *governance.Candidate) { c.UpdatedAt = cutoff.In(time.FixedZone("CET", 3600)) }, false},
		{"a contact, not a lead", leads, func(c *governance.Candidate) { c.Kind = contact.KindContact }, false},
		{"consent given", leads, func(c *governance.Candidate) { c.States = []consent.State{consent.Given} }, false},
		{"given for one purpose, withdrawn for another", leads, func(c *governance.Candidate) { c.States = []consent.State{consent.Given, consent.Withdrawn} }, false},
		{"consent withdrawn", leads, func(c *governance.Candidate) { c.States = []consent.State{consent.Withdrawn} }, true},
		{"consent refused", leads, func(c *governance.Candidate) { c.States = []consent.State{consent.Refused} }, true},
		{"consent requested", leads, func(c *governance.Candidate) { c.States = []consent.State{consent.Requested} }, true},
		{"consent expired", leads, func(c *governance.Candidate) { c.States = []consent.State{consent.Expired} }, true},
		{"legal hold", leads, func(c *governance.Candidate) { c.LegalHold = true }, false},
		{"restricted", leads, func(c *governance.Candidate) { c.Restricted = true }, false},
		{"open request", leads, func(c *governance.Candidate) { c.OpenRequest = true }, false},
		{"collected for the purpose", events, func(c *governance.Candidate) {
			c.Kind, c.Purposes = contact.KindContact, []string{"events", "newsletter"}
		}, true},
		{"not collected for the purpose", events, func(c *governance.Candidate) { c.Kind, c.Purposes = contact.KindContact, []string{"newsletter"} }, false},
		{"collected for nothing", events, func(c *governance.Candidate) { c.Kind = contact.KindContact }, false},
		{"collected for the purpose, a lead", events, func(c *governance.Candidate) { c.Purposes = []string{"events"} }, false},
		{"collected for the purpose, given another", events, func(c *governance.Candidate) {
			c.Kind, c.Purposes, c.States = contact.KindContact, []string{"events", "newsletter"}, []consent.State{consent.Given, consent.Requested}
		}, false},
		{"a policy without a purpose takes every purpose", leads, func(c *governance.Candidate) { c.Purposes = []string{"events"} }, true},
	} {
		c := base()
		tc.edit(&c)
		if got := tc.policy.Erases(c, now); got != tc.want {
			t.Errorf("%s: Erases(%+v) = %v; want %v", tc.name, c, got, tc.want)
		}
	}
	// The period is counted in calendar days back from now, in UTC.
	p := governance.Policy{Kind: contact.KindLead, AfterDays: 1}
	c := governance.Candidate{Kind: contact.KindLead, UpdatedAt: now.Add(-24*time.Hour - time.Nanosecond)}
	if !p.Erases(c, now.In(time.FixedZone("PST", -8*3600))) || p.Erases(governance.Candidate{Kind: contact.KindLead, UpdatedAt: now.Add(-24 * time.Hour)}, now) {
		t.Errorf("a one-day policy: want erased just over 24 hours after the last change, kept at 24 hours")
	}
}
