package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
)

// Times of the retention cases, in a zone other than UTC and with fractions of a second, so that
// a store keeping or comparing times by their text would show.
var (
	retentionZone = time.FixedZone("CEST", 2*3600)
	retT0         = time.Date(2025, 5, 1, 9, 0, 0, 500000000, retentionZone)
	retT1         = time.Date(2025, 5, 1, 9, 0, 0, 250000000, retentionZone) // before retT0 by a quarter second
	retT2         = time.Date(2025, 7, 3, 10, 11, 12, 13, retentionZone)
	retT3         = time.Date(2025, 8, 9, 23, 59, 59, 999999999, retentionZone)
)

// retentionFacts is one contact of the retention cases and the events and requests about it.
type retentionFacts struct {
	id         string
	kind       contact.Kind
	updated    time.Time
	restricted bool
	hold       bool
	events     []retentionFactEvent
	requests   []dsr.State
}

type retentionFactEvent struct {
	purpose            string
	state              consent.State
	occurred, recorded time.Time
	pending            bool // awaiting approval: no current state written
}

// write stores f in tx: the contact, its legal hold, its consent events with the current state
// of each purpose (the last event given for it that is not pending), and its requests.
func (f retentionFacts) write(s *suite, tx Tx) error {
	if err := tx.InsertContact(s.ctx, &contact.Record{ID: f.id, Kind: f.kind, KeyVersion: 1, Restricted: f.restricted, CreatedAt: retT1, UpdatedAt: f.updated, Version: 1}); err != nil {
		return err
	}
	if f.hold {
		if err := tx.SetLegalHold(s.ctx, f.id, true); err != nil {
			return err
		}
	}
	for i, e := range f.events {
		ev := &consent.Event{ID: fmt.Sprintf("%s-ev%d", f.id, i), ContactID: f.id, Purpose: e.purpose, State: e.state, Method: consent.MethodWebForm,
			PolicyVersions: map[string]string{}, OccurredAt: e.occurred, RecordedAt: e.recorded, Actor: "token:tok-1"}
		if e.pending {
			ev.Approval = "pending"
		}
		if err := tx.InsertConsentEvent(s.ctx, ev, nil); err != nil {
			return err
		}
		if !e.pending {
			if err := tx.PutCurrentConsent(s.ctx, consent.Current{ContactID: f.id, Purpose: e.purpose, State: e.state, LawfulBasis: consent.BasisConsent,
				Method: consent.MethodWebForm, OccurredAt: e.occurred, PolicyVersions: map[string]string{}, EventID: ev.ID}); err != nil {
				return err
			}
		}
	}
	for i, st := range f.requests {
		r := &dsr.Record{Request: dsr.Request{ID: fmt.Sprintf("%s-rq%d", f.id, i), Type: dsr.TypeErasure, State: st, ContactID: f.id,
			Channel: dsr.ChannelEmail, ReceivedAt: retT1, DueAt: dsr.DueAt(retT1)}, KeyVersion: 1, UpdatedAt: retT1, Version: 1}
		if err := tx.InsertRequest(s.ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// testRetentionCandidates: RetentionCandidates reports each fact the retention rule
// (governance.Policy.Erases) decides on, exactly, for contacts of one kind in id order, in pages.
func testRetentionCandidates(t *testing.T, s *suite) {
	facts := []retentionFacts{
		{id: "ret-a-plain", kind: contact.KindLead, updated: retT0},
		{id: "ret-b-customer", kind: contact.KindContact, updated: retT0}, // another kind: never listed for leads
		{id: "ret-c-events", kind: contact.KindLead, updated: retT1, events: []retentionFactEvent{
			{purpose: "ret-news", state: consent.Given, occurred: retT1, recorded: retT1},
			{purpose: "ret-news", state: consent.Withdrawn, occurred: retT2, recorded: retT2},
			{purpose: "ret-events", state: consent.Given, occurred: retT0, recorded: retT0},
		}},
		// An old event recorded late: its recording is the last activity.
		{id: "ret-d-late", kind: contact.KindLead, updated: retT1, events: []retentionFactEvent{
			{purpose: "ret-news", state: consent.Refused, occurred: retT1, recorded: retT3},
			{purpose: "ret-events", state: consent.Requested, occurred: retT2, recorded: retT2},
		}},
		// A pending event counts as activity and as collection for its purpose, but is not current.
		{id: "ret-e-pending", kind: contact.KindLead, updated: retT1, events: []retentionFactEvent{
			{purpose: "ret-news", state: consent.Requested, occurred: retT0, recorded: retT0},
			{purpose: "ret-events", state: consent.Given, occurred: retT2, recorded: retT2, pending: true},
		}},
		{id: "ret-f-held", kind: contact.KindLead, updated: retT2, hold: true, restricted: true},
		{id: "ret-g-closed", kind: contact.KindLead, updated: retT0, requests: []dsr.State{dsr.StateCompleted, dsr.StateRejected}},
	}
	for _, st := range []dsr.State{dsr.StateReceived, dsr.StateVerifying, dsr.StateInProgress, dsr.StateExtended} {
		facts = append(facts, retentionFacts{id: "ret-h-" + string(st), kind: contact.KindLead, updated: retT0, requests: []dsr.State{dsr.StateCompleted, st}})
	}
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"ret-news", "ret-events"} {
			if err := tx.InsertPurpose(s.ctx, consent.Purpose{ID: id, Name: id, Description: "D", LawfulBasis: consent.BasisConsent, CreatedAt: retT0}); err != nil {
				return err
			}
		}
		for _, f := range facts {
			if err := f.write(s, tx); err != nil {
				return fmt.Errorf("%s: %w", f.id, err)
			}
		}
		return nil
	})
	utc := func(t time.Time) time.Time { return t.UTC() }
	open := func(id string) governance.Candidate {
		return governance.Candidate{ContactID: id, Kind: contact.KindLead, UpdatedAt: utc(retT0), OpenRequest: true}
	}
	want := []governance.Candidate{
		{ContactID: "ret-a-plain", Kind: contact.KindLead, UpdatedAt: utc(retT0)},
		{ContactID: "ret-c-events", Kind: contact.KindLead, UpdatedAt: utc(retT1), LastConsentEvent: utc(retT2),
			Purposes: []string{"ret-events", "ret-news"}, States: []consent.State{consent.Given, consent.Withdrawn}},
		{ContactID: "ret-d-late", Kind: contact.KindLead, UpdatedAt: utc(retT1), LastConsentEvent: utc(retT3),
			Purposes: []string{"ret-events", "ret-news"}, States: []consent.State{consent.Refused, consent.Requested}},
		{ContactID: "ret-e-pending", Kind: contact.KindLead, UpdatedAt: utc(retT1), LastConsentEvent: utc(retT2),
			Purposes: []string{"ret-events", "ret-news"}, States: []consent.State{consent.Requested}},
		{ContactID: "ret-f-held", Kind: contact.KindLead, UpdatedAt: utc(retT2), LegalHold: true, Restricted: true},
		{ContactID: "ret-g-closed", Kind: contact.KindLead, UpdatedAt: utc(retT0)},
		open("ret-h-extended"), open("ret-h-in_progress"), open("ret-h-received"), open("ret-h-verifying"),
	}
	// Every lead, in pages of 3: each page starts after the last id of the one before.
	var got []governance.Candidate
	after := ""
	for page := 0; ; page++ {
		var cs []governance.Candidate
		s.update(t, func(tx Tx) error {
			var err error
			cs, err = tx.RetentionCandidates(s.ctx, governance.CandidateQuery{Kind: contact.KindLead, IdleBefore: retAll, After: after, Limit: 3})
			return err
		})
		if len(cs) > 3 {
			t.Fatalf("page %d: %d candidates; want at most 3", page, len(cs))
		}
		got = append(got, cs...)
		if len(cs) < 3 {
			break
		}
		after = cs[len(cs)-1].ContactID
	}
	if len(got) != len(want) {
		t.Fatalf("candidates %v; want %v", candidateIDs(got), candidateIDs(want))
	}
	for i := range want {
		checkCandidate(t, got[i], want[i])
	}
	// The other kind, and a page after the last id.
	s.update(t, func(tx Tx) error {
		contacts, err := tx.RetentionCandidates(s.ctx, governance.CandidateQuery{Kind: contact.KindContact, IdleBefore: retAll, Limit: 10})
		if err == nil && (len(contacts) != 1 || contacts[0].ContactID != "ret-b-customer" || contacts[0].Kind != contact.KindContact) {
			t.Errorf("candidates of kind contact %v; want ret-b-customer", candidateIDs(contacts))
		}
		if err != nil {
			return err
		}
		rest, err := tx.RetentionCandidates(s.ctx, governance.CandidateQuery{Kind: contact.KindLead, IdleBefore: retAll, After: "ret-h-verifying", Limit: 10})
		if err == nil && len(rest) != 0 {
			t.Errorf("candidates after the last lead %v; want none", candidateIDs(rest))
		}
		return err
	})
	testRetentionIdle(t, s)
	testRetentionUnverifiedRequest(t, s)
}

// testRetentionUnverifiedRequest: a request from the contact's address still waiting for
// identity (bound to no contact) is open for it, as an erasure would close it
// (dsr.Service.ErasingIn); one from another address, or closed, is not.
func testRetentionUnverifiedRequest(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"ret-u-waiting", "ret-v-other", "ret-w-closed"} {
			if err := tx.InsertContact(s.ctx, &contact.Record{ID: id, Kind: contact.KindContact, KeyVersion: 1, EmailIndex: []byte("bidx-" + id), CreatedAt: retT0, UpdatedAt: retT0, Version: 1}); err != nil {
				return err
			}
		}
		for _, r := range []struct {
			id, bidx string
			state    dsr.State
		}{{"ret-rq-u", "bidx-ret-u-waiting", dsr.StateVerifying}, {"ret-rq-v", "bidx-someone-else", dsr.StateReceived}, {"ret-rq-w", "bidx-ret-w-closed", dsr.StateRejected}} {
			rec := &dsr.Record{Request: dsr.Request{ID: r.id, Type: dsr.TypeAccess, State: r.state, Channel: dsr.ChannelPortal,
				ReceivedAt: retT1, DueAt: dsr.DueAt(retT1)}, KeyVersion: 1, EmailIndex: []byte(r.bidx), UpdatedAt: retT1, Version: 1}
			if err := tx.InsertRequest(s.ctx, rec); err != nil {
				return err
			}
		}
		cs, err := tx.RetentionCandidates(s.ctx, governance.CandidateQuery{Kind: contact.KindContact, IdleBefore: retAll, After: "ret-t", Limit: 10})
		if err != nil {
			return err
		}
		open := map[string]bool{}
		for _, c := range cs {
			open[c.ContactID] = c.OpenRequest
		}
		if want := map[string]bool{"ret-u-waiting": true, "ret-v-other": false, "ret-w-closed": false}; !maps.Equal(open, want) {
			t.Errorf("open requests %v; want %v", open, want)
		}
		return nil
	})
}

// retAll is an IdleBefore after every time of the cases: it selects every contact.
var retAll = retT3.Add(time.Nanosecond)

// testRetentionIdle: IdleBefore leaves out exactly the contacts changed, or with a consent event
// that happened or was recorded, at or after it (a pending event too); a time exactly at it is
// not idle, and times compare as instants whatever their zone.
func testRetentionIdle(t *testing.T, s *suite) {
	for _, tc := range []struct {
		idle time.Time
		want []string
	}{
		// ret-c's last event and ret-e's pending one happened at retT2, ret-d's was recorded at
		// retT3, ret-f changed at retT2.
		{retT2, []string{"ret-a-plain", "ret-g-closed", "ret-h-extended", "ret-h-in_progress", "ret-h-received", "ret-h-verifying"}},
		{retT2.Add(time.Nanosecond).UTC(), []string{"ret-a-plain", "ret-c-events", "ret-e-pending", "ret-f-held", "ret-g-closed", "ret-h-extended", "ret-h-in_progress", "ret-h-received", "ret-h-verifying"}},
		{retT3, []string{"ret-a-plain", "ret-c-events", "ret-e-pending", "ret-f-held", "ret-g-closed", "ret-h-extended", "ret-h-in_progress", "ret-h-received", "ret-h-verifying"}},
		// Every lead changed at retT0, or later, or has a consent event at or after it (ret-e's
		// requested one happened exactly at retT0).
		{retT0, nil},
		{retT0.Add(time.Nanosecond), []string{"ret-a-plain", "ret-g-closed", "ret-h-extended", "ret-h-in_progress", "ret-h-received", "ret-h-verifying"}},
		{time.Time{}, nil},
	} {
		var cs []governance.Candidate
		s.update(t, func(tx Tx) error {
			var err error
			cs, err = tx.RetentionCandidates(s.ctx, governance.CandidateQuery{Kind: contact.KindLead, IdleBefore: tc.idle, Limit: 20})
			return err
		})
		if got := candidateIDs(cs); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("idle before %v: %v; want %v", tc.idle, got, tc.want)
		}
	}
}

func candidateIDs(cs []governance.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ContactID
	}
	return out
}

// checkCandidate compares every field of a candidate; times must be equal and in UTC, and
// empty lists may be nil.
func checkCandidate(t *testing.T, got, want governance.Candidate) {
	t.Helper()
	if got.ContactID != want.ContactID || got.Kind != want.Kind || got.LegalHold != want.LegalHold || got.Restricted != want.Restricted || got.OpenRequest != want.OpenRequest {
		t.Errorf("candidate %s: %+v; want %+v", want.ContactID, got, want)
	}
	if !slices.Equal(got.Purposes, want.Purposes) || !slices.Equal(got.States, want.States) {
		t.Errorf("candidate %s: purposes %q, states %q; want %q, %q", want.ContactID, got.Purposes, got.States, want.Purposes, want.States)
	}
	for _, tm := range []struct {
		what      string
		got, want time.Time
	}{{"UpdatedAt", got.UpdatedAt, want.UpdatedAt}, {"LastConsentEvent", got.LastConsentEvent, want.LastConsentEvent}} {
		if !tm.got.Equal(tm.want) || !tm.want.IsZero() && tm.got.Location() != time.UTC {
			t.Errorf("candidate %s: %s = %s (%s); want %s in UTC", want.ContactID, tm.what, tm.got.Format(time.RFC3339Nano), tm.got.Location(), tm.want.Format(time.RFC3339Nano))
		}
	}
}

// testRetentionPoliciesAndHolds: policies are stored as given, listed in id order, refused twice under
// one id (Conflict on the field id) and deleted once (NotFound after); a purpose's basis is read
// back (ok false for none); a legal hold is set, read and lifted (NotFound for no contact).
func testRetentionPoliciesAndHolds(t *testing.T, s *suite) {
	ps := []governance.Policy{
		{ID: "ret-leads", Kind: contact.KindLead, AfterDays: 30, CreatedAt: retT0},
		{ID: "ret-events", Kind: contact.KindContact, Purpose: "ret-events", AfterDays: 36500, CreatedAt: retT2},
	}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, consent.Purpose{ID: "ret-events", Name: "E", Description: "D", LawfulBasis: consent.BasisConsent, CreatedAt: retT0}); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, consent.Purpose{ID: "ret-terms", Name: "T", Description: "D", LawfulBasis: consent.BasisContract, Acceptance: true, CreatedAt: retT0}); err != nil {
			return err
		}
		for _, p := range ps {
			if err := tx.InsertPolicy(s.ctx, p); err != nil {
				return err
			}
		}
		return tx.InsertContact(s.ctx, &contact.Record{ID: "ret-held", Kind: contact.KindLead, KeyVersion: 1, CreatedAt: retT0, UpdatedAt: retT0, Version: 1})
	})
	err := s.h.Update(s.ctx, func(tx Tx) error {
		return tx.InsertPolicy(s.ctx, governance.Policy{ID: "ret-leads", Kind: contact.KindContact, AfterDays: 1, CreatedAt: retT1})
	})
	if e := apperr.As(err); e == nil || e.Kind != apperr.Conflict || e.Field != "id" {
		t.Errorf("InsertPolicy under a taken id: %v; want Conflict on id", err)
	}
	s.update(t, func(tx Tx) error {
		got, err := tx.Policies(s.ctx)
		if err != nil {
			return err
		}
		if len(got) != 2 || got[0].ID != "ret-events" || got[1].ID != "ret-leads" {
			t.Errorf("Policies = %+v; want ret-events, ret-leads", got) // no t.Fatal inside a transaction
			return nil
		}
		for i, want := range []governance.Policy{ps[1], ps[0]} {
			if g := got[i]; g.ID != want.ID || g.Kind != want.Kind || g.Purpose != want.Purpose || g.AfterDays != want.AfterDays || !g.CreatedAt.Equal(want.CreatedAt) || g.CreatedAt.Location() != time.UTC {
				t.Errorf("policy %s = %+v; want %+v (time in UTC)", want.ID, g, want)
			}
		}
		if err := tx.DeletePolicy(s.ctx, "ret-leads"); err != nil {
			return err
		}
		if err := tx.DeletePolicy(s.ctx, "ret-leads"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("DeletePolicy twice: %v; want NotFound", err)
		}
		if got, err := tx.Policies(s.ctx); err != nil || len(got) != 1 || got[0].ID != "ret-events" {
			t.Errorf("Policies after a delete = %+v, %v; want ret-events", got, err)
		}

		for _, tc := range []struct {
			id, basis          string
			acceptance, wantOK bool
		}{{"ret-events", consent.BasisConsent, false, true}, {"ret-terms", consent.BasisContract, true, true}, {"ret-none", "", false, false}} {
			basis, acceptance, ok, err := tx.PurposeBasis(s.ctx, tc.id)
			if err != nil || basis != tc.basis || acceptance != tc.acceptance || ok != tc.wantOK {
				t.Errorf("PurposeBasis(%s) = %q, %v, %v, %v; want %q, %v, %v", tc.id, basis, acceptance, ok, err, tc.basis, tc.acceptance, tc.wantOK)
			}
		}

		for _, on := range []bool{false, true, false} {
			if err := tx.SetLegalHold(s.ctx, "ret-held", on); err != nil {
				return err
			}
			if got, err := tx.LegalHold(s.ctx, "ret-held"); err != nil || got != on {
				t.Errorf("LegalHold after SetLegalHold(%v) = %v, %v", on, got, err)
			}
		}
		if err := tx.SetLegalHold(s.ctx, "ret-nobody", true); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("SetLegalHold(no contact): %v; want NotFound", err)
		}
		if _, err := tx.LegalHold(s.ctx, "ret-nobody"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("LegalHold(no contact): %v; want NotFound", err)
		}
		return nil
	})
}
