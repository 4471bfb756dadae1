package governance_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// retentionCase is one contact, written straight into the store with the facts a retention
// policy looks at, and whether a dry-run sweep at sweepAt lists it.
type retentionCase struct {
	name string
	kind contact.Kind
	// updated is the contact's last change; the zero time means long ago (day0).
	updated time.Time
	// restricted and hold are the contact's restriction (Art. 18) and legal hold.
	restricted, hold bool
	// events are consent events (the current state of each purpose is the last one given
	// here, unless pending).
	events []retentionEvent
	// requests are the states of the person's data subject requests.
	requests []dsr.State
	// swept by the kind-wide policy and by the policy scoped to the "events" purpose.
	swept, sweptForEvents bool
}

type retentionEvent struct {
	purpose            string
	state              consent.State
	occurred, recorded time.Time // recorded zero: the same as occurred
	pending            bool      // awaiting staff approval: not the current state
	needsReconsent     bool
}

// The clock of the cases: contacts made on day0, the sweep 60 days later, policies of 30 days,
// so the cut-off is day0 + 30 days.
var (
	day0    = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sweepAt = day0.AddDate(0, 0, 60)
	cutoff  = sweepAt.AddDate(0, 0, -30)
)

// retentionCases covers every rule of the sweep: kind, the last change, the last consent event
// (as it happened and as recorded), a given consent for any purpose (an acceptance is one), legal
// hold, restriction, open requests of each state, and a policy's purpose.
var retentionCases = []retentionCase{
	{name: "lead untouched", kind: contact.KindLead, swept: true},
	{name: "contact untouched", kind: contact.KindContact},
	{name: "lead changed after the cut-off", kind: contact.KindLead, updated: cutoff.Add(24 * time.Hour)},
	{name: "lead changed at the cut-off", kind: contact.KindLead, updated: cutoff},
	{name: "lead changed just before the cut-off", kind: contact.KindLead, updated: cutoff.Add(-time.Nanosecond), swept: true},
	{name: "consent given long ago", kind: contact.KindLead, events: []retentionEvent{{purpose: "newsletter", state: consent.Given, occurred: day0}}},
	{name: "consent given, needing re-consent", kind: contact.KindLead, events: []retentionEvent{{purpose: "newsletter", state: consent.Given, occurred: day0, needsReconsent: true}}},
	{name: "consent withdrawn long ago", kind: contact.KindLead, swept: true, events: []retentionEvent{
		{purpose: "newsletter", state: consent.Given, occurred: day0}, {purpose: "newsletter", state: consent.Withdrawn, occurred: day0.Add(time.Hour)}}},
	{name: "consent refused long ago", kind: contact.KindLead, swept: true, events: []retentionEvent{{purpose: "newsletter", state: consent.Refused, occurred: day0}}},
	{name: "consent requested, never confirmed", kind: contact.KindLead, swept: true, events: []retentionEvent{{purpose: "newsletter", state: consent.Requested, occurred: day0}}},
	{name: "consent expired long ago", kind: contact.KindLead, swept: true, events: []retentionEvent{{purpose: "newsletter", state: consent.Expired, occurred: day0}}},
	{name: "consent given, pending approval", kind: contact.KindLead, swept: true, events: []retentionEvent{{purpose: "newsletter", state: consent.Given, occurred: day0, pending: true}}},
	{name: "withdrawn after the cut-off", kind: contact.KindLead, events: []retentionEvent{{purpose: "newsletter", state: consent.Withdrawn, occurred: cutoff.Add(time.Hour)}}},
	{name: "consent event at the cut-off", kind: contact.KindLead, events: []retentionEvent{{purpose: "newsletter", state: consent.Withdrawn, occurred: cutoff}}},
	{name: "consent event just before the cut-off", kind: contact.KindLead, swept: true, events: []retentionEvent{{purpose: "newsletter", state: consent.Withdrawn, occurred: cutoff.Add(-time.Nanosecond)}}},
	{name: "old event recorded after the cut-off", kind: contact.KindLead, events: []retentionEvent{{purpose: "newsletter", state: consent.Refused, occurred: day0, recorded: cutoff.Add(time.Hour)}}},
	{name: "given for one purpose, withdrawn for another", kind: contact.KindLead, events: []retentionEvent{
		{purpose: "newsletter", state: consent.Given, occurred: day0}, {purpose: "events", state: consent.Withdrawn, occurred: day0}}},
	{name: "terms accepted", kind: contact.KindContact, events: []retentionEvent{{purpose: "terms", state: consent.Given, occurred: day0}}},
	{name: "legal hold", kind: contact.KindLead, hold: true},
	{name: "restricted", kind: contact.KindLead, restricted: true},
	{name: "request received", kind: contact.KindLead, requests: []dsr.State{dsr.StateReceived}},
	{name: "request verifying", kind: contact.KindLead, requests: []dsr.State{dsr.StateVerifying}},
	{name: "request in progress", kind: contact.KindLead, requests: []dsr.State{dsr.StateInProgress}},
	{name: "request extended", kind: contact.KindLead, requests: []dsr.State{dsr.StateExtended}},
	{name: "request completed", kind: contact.KindLead, requests: []dsr.State{dsr.StateCompleted}, swept: true},
	{name: "request rejected", kind: contact.KindLead, requests: []dsr.State{dsr.StateRejected}, swept: true},
	{name: "one request closed, one open", kind: contact.KindLead, requests: []dsr.State{dsr.StateCompleted, dsr.StateInProgress}},
	{name: "contact invited to events, never confirmed", kind: contact.KindContact, sweptForEvents: true, events: []retentionEvent{{purpose: "events", state: consent.Requested, occurred: day0}}},
	{name: "contact who withdrew from events", kind: contact.KindContact, sweptForEvents: true, events: []retentionEvent{
		{purpose: "events", state: consent.Given, occurred: day0}, {purpose: "events", state: consent.Withdrawn, occurred: day0.Add(time.Hour)}}},
	{name: "contact invited to events, newsletter given", kind: contact.KindContact, events: []retentionEvent{
		{purpose: "events", state: consent.Requested, occurred: day0}, {purpose: "newsletter", state: consent.Given, occurred: day0}}},
	{name: "contact on the newsletter only, refused", kind: contact.KindContact, events: []retentionEvent{{purpose: "newsletter", state: consent.Refused, occurred: day0}}},
	{name: "lead invited to events, never confirmed", kind: contact.KindLead, swept: true, events: []retentionEvent{{purpose: "events", state: consent.Requested, occurred: day0}}},
	{name: "contact invited to events, restricted", kind: contact.KindContact, restricted: true, events: []retentionEvent{{purpose: "events", state: consent.Requested, occurred: day0}}},
	{name: "contact invited to events, request open", kind: contact.KindContact, requests: []dsr.State{dsr.StateVerifying}, events: []retentionEvent{{purpose: "events", state: consent.Requested, occurred: day0}}},
}

// writeRetentionCase stores c as contact id, with its events and requests.
func writeRetentionCase(ctx context.Context, tx store.Tx, id string, c retentionCase) error {
	updated := c.updated
	if updated.IsZero() {
		updated = day0
	}
	if err := tx.InsertContact(ctx, &contact.Record{ID: id, Kind: c.kind, KeyVersion: 1, Restricted: c.restricted, CreatedAt: day0, UpdatedAt: updated, Version: 1}); err != nil {
		return err
	}
	if c.hold {
		if err := tx.SetLegalHold(ctx, id, true); err != nil {
			return err
		}
	}
	for _, e := range c.events {
		recorded := e.recorded
		if recorded.IsZero() {
			recorded = e.occurred
		}
		ev := &consent.Event{ID: uuid.NewString(), ContactID: id, Purpose: e.purpose, State: e.state, Method: consent.MethodWebForm,
			PolicyVersions: map[string]string{}, OccurredAt: e.occurred, RecordedAt: recorded, Actor: "token:tok-1"}
		if e.pending {
			ev.Approval = "pending"
		}
		if err := tx.InsertConsentEvent(ctx, ev, nil); err != nil {
			return err
		}
		if e.pending {
			continue
		}
		if err := tx.PutCurrentConsent(ctx, consent.Current{ContactID: id, Purpose: e.purpose, State: e.state, LawfulBasis: consent.BasisConsent,
			Method: consent.MethodWebForm, OccurredAt: e.occurred, PolicyVersions: map[string]string{}, EventID: ev.ID, NeedsReconsent: e.needsReconsent}); err != nil {
			return err
		}
	}
	for i, st := range c.requests {
		r := &dsr.Record{Request: dsr.Request{ID: fmt.Sprintf("%s-request-%d", id, i), Type: dsr.TypeAccess, State: st, ContactID: id,
			Channel: dsr.ChannelEmail, ReceivedAt: day0, DueAt: dsr.DueAt(day0)}, KeyVersion: 1, UpdatedAt: day0, Version: 1}
		if err := tx.InsertRequest(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// TestRetentionRules pins what a sweep erases, rule by rule: one contact per case in one store,
// two policies (every lead after 30 days; every contact collected for "events" after 30 days),
// a dry run in batches of 2 (so that paging passes over kept contacts), and the ids each policy
// lists, in id order.
func TestRetentionRules(t *testing.T) {
	dir := t.TempDir()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := day0
	clock := func() time.Time { return now }
	id := func() string { return uuid.Must(uuid.NewV7()).String() }
	gate := &consent.Service{Store: store.Consent(db), Keys: kr, Now: clock, NewID: id}
	if err := gate.EnsureDefaultPurpose(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []consent.Purpose{
		{ID: "events", Name: "Event invitations", LawfulBasis: consent.BasisConsent},
		{ID: "terms", Name: "Terms of service", LawfulBasis: consent.BasisContract, Acceptance: true},
	} {
		if _, err := gate.CreatePurpose(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	contacts := &contact.Service{Store: store.Contacts(db), Keys: kr, Now: clock, NewID: id}
	ret := &governance.Retention{Store: store.Retention(db), Contacts: contacts, Now: clock, Batch: 2}
	for _, p := range []governance.Policy{
		{ID: "contacts-for-events", Kind: contact.KindContact, Purpose: "events", AfterDays: 30},
		{ID: "leads", Kind: contact.KindLead, AfterDays: 30},
	} {
		if _, err := ret.CreatePolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	var wantLeads, wantEvents []string
	names := map[string]string{}
	if err := db.Update(ctx, func(tx store.Tx) error {
		for i, c := range retentionCases {
			cid := fmt.Sprintf("c%02d", i) // id order is case order
			names[cid] = c.name
			if c.swept {
				wantLeads = append(wantLeads, cid)
			}
			if c.sweptForEvents {
				wantEvents = append(wantEvents, cid)
			}
			if err := writeRetentionCase(ctx, tx, cid, c); err != nil {
				t.Errorf("%s: %v", c.name, err)
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	now = sweepAt
	res, err := ret.Sweep(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, p := range res.Policies {
		got[p.Policy] = p.Contacts
	}
	for policy, want := range map[string][]string{"leads": wantLeads, "contacts-for-events": wantEvents} {
		if !slices.Equal(got[policy], want) {
			for _, id := range got[policy] {
				if !slices.Contains(want, id) {
					t.Errorf("policy %s lists %q; want it kept", policy, names[id])
				}
			}
			for _, id := range want {
				if !slices.Contains(got[policy], id) {
					t.Errorf("policy %s keeps %q; want it listed", policy, names[id])
				}
			}
			if len(got[policy]) == len(want) {
				t.Errorf("policy %s lists %v; want %v (id order)", policy, got[policy], want)
			}
		}
	}
	if res.WouldErase != len(wantLeads)+len(wantEvents) || res.Erased != 0 {
		t.Errorf("would erase %d, erased %d; want %d and 0", res.WouldErase, res.Erased, len(wantLeads)+len(wantEvents))
	}
}

// BenchmarkRetentionSweep times a dry-run sweep over 10,000 leads: one in ten expired (refused
// long ago), four in ten active (a consent event within the policy's 30 days), half kept by a
// consent given long ago.
func BenchmarkRetentionSweep(b *testing.B) {
	dir := b.TempDir()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true})
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Config{URL: testdb.URL(b, dir), DiskKeys: testdb.DiskKeys(b, dir)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	clock := func() time.Time { return sweepAt }
	gate := &consent.Service{Store: store.Consent(db), Keys: kr, Now: clock, NewID: uuid.NewString}
	if err := gate.EnsureDefaultPurpose(ctx); err != nil {
		b.Fatal(err)
	}
	ret := &governance.Retention{Store: store.Retention(db), Now: clock}
	if _, err := ret.CreatePolicy(ctx, governance.Policy{ID: "leads", Kind: contact.KindLead, AfterDays: 30}); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	if err := db.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			var c retentionCase
			switch i % 10 {
			case 0:
				c = retentionCase{kind: contact.KindLead, events: []retentionEvent{{purpose: "newsletter", state: consent.Refused, occurred: day0}}}
			case 1, 2, 3, 4:
				c = retentionCase{kind: contact.KindLead, updated: cutoff.Add(time.Hour),
					events: []retentionEvent{{purpose: "newsletter", state: consent.Withdrawn, occurred: cutoff.Add(time.Hour)}}}
			default:
				c = retentionCase{kind: contact.KindLead, events: []retentionEvent{{purpose: "newsletter", state: consent.Given, occurred: day0}}}
			}
			if err := writeRetentionCase(ctx, tx, fmt.Sprintf("c%05d", i), c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := ret.Sweep(ctx, true)
		if err != nil || res.WouldErase != n/10 {
			b.Fatalf("sweep %d, %v; want %d", res.WouldErase, err, n/10)
		}
	}
}
