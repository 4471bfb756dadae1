package consent_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
)

// TestRecordProjectsAndAudits: every event is appended to the ledger with what ISO/IEC TS 27560
// asks (doc.go), the documents in force and the notice hash filled in (GDPR Art. 7(1)); the
// current state is the latest event, except that a repeated request never downgrades a given
// consent and an event dated before the current one is history only; processors are told of
// each new current state; the evidence is sealed, and History opens it as an audited read.
func TestRecordProjectsAndAudits(t *testing.T) {
	e := newEnv(t)
	id := e.contact(t, "ada@example.org")
	if _, err := e.policies.Draft(staffA, consent.DocPrivacyPolicy, "# Privacy", false); err != nil {
		t.Fatal(err)
	}
	pv, _ := e.policies.List(staffA)
	if _, err := e.policies.Publish(staffA, pv[0].ID); err != nil {
		t.Fatal(err)
	}
	seq := e.lastSeq(t)
	e.now = start.Add(time.Hour)
	req := e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Requested,
		Evidence: consent.Evidence{IP: "192.0.2.7", UserAgent: "Firefox", FormID: "footer"}})
	e.now = start.Add(2 * time.Hour)
	given := e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, Method: consent.MethodDoubleOptIn})
	e.now = start.Add(3 * time.Hour)
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Requested}) // signs up again
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Withdrawn, OccurredAt: start.Add(90 * time.Minute)})

	if req.ID == "" || !req.RecordedAt.Equal(start.Add(time.Hour)) || !req.OccurredAt.Equal(req.RecordedAt) || req.Actor != "public:subscribe" ||
		req.NoticeHash != consent.DefaultPurpose(start).NoticeHash() || !maps.Equal(req.PolicyVersions, map[string]string{consent.DocPrivacyPolicy: "1"}) {
		t.Errorf("recorded %+v; want id, times, actor, the notice hash and the privacy policy in force", req)
	}
	if d := e.check(t, id, "newsletter"); !d.Allowed || d.State != consent.Given || d.Reason != consent.ReasonConsentGiven {
		t.Errorf("Check = %+v; want the given consent current (a repeated request and an older withdrawal do not replace it)", d)
	}
	var got []string
	for _, c := range e.changes(t, seq) {
		got = append(got, c.Change)
	}
	if want := []string{"requested", "given"}; !slices.Equal(got, want) {
		t.Errorf("changes = %q; want %q", got, want)
	}
	var sealed [][]byte
	e.update(t, func(tx store.Tx) error {
		var err error
		_, sealed, err = tx.ConsentEvents(context.Background(), id)
		return err
	})
	if len(sealed) != 4 || len(sealed[0]) == 0 || strings.Contains(string(sealed[0]), "192.0.2.7") || sealed[1] != nil {
		t.Errorf("sealed evidence: %q; want the first sealed, the second empty", sealed)
	}
	led, err := e.consent.History(staffA, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(led.Events) != 4 || led.Events[0].Evidence.IP != "192.0.2.7" || led.Events[0].Evidence.FormID != "footer" || led.Events[1].ID != given.ID ||
		len(led.Current) != 1 || led.Current[0].EventID != given.ID || len(led.Objections) != 0 {
		t.Errorf("History = %+v; want four events with the evidence opened and the given one current", led)
	}
	var actions []string
	for _, ev := range e.audits(t, "contact", id) {
		actions = append(actions, ev.Action+":"+strings.Join(ev.Fields, ",")+":"+ev.Purpose)
	}
	if want := []string{"consent.record:consent.dpv:ConsentRequested:newsletter", "consent.record:consent.dpv:ConsentGiven:newsletter",
		"consent.record:consent.dpv:ConsentRequested:newsletter", "consent.record:consent.dpv:ConsentWithdrawn:newsletter",
		"consent.read:consent_events,evidence:"}; !slices.Equal(actions[1:], want) {
		t.Errorf("audit = %q; want %q after the create", actions, want)
	}
}

// TestRecordRefuses: what a consent event may not be. A restricted contact (GDPR Art. 18) takes
// no consent that widens processing but every withdrawal; staff may not give consent for a
// person who withdrew or refused (only their own opt-in lifts that, Art. 7(3)) nor record a
// double opt-in; an event cites only published policy versions in force (Art. 7(1)).
func TestRecordRefuses(t *testing.T) {
	e := newEnv(t)
	id := e.contact(t, "bo@example.org")
	delivery := e.purpose(t, consent.Purpose{ID: "delivery", Name: "Delivery", LawfulBasis: consent.BasisContract})
	e.record(t, person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Withdrawn})
	refuser := e.contact(t, "refuser@example.org")
	e.record(t, person, consent.Event{ContactID: refuser, Purpose: "newsletter", State: consent.Refused})
	for _, tc := range []struct {
		name          string
		ctx           context.Context
		ev            consent.Event
		kind          apperr.Kind
		field, reason string
	}{
		{"no purpose", person, consent.Event{ContactID: id, State: consent.Given}, apperr.Invalid, "purpose", "required"},
		{"unknown purpose", person, consent.Event{ContactID: id, Purpose: "tips", State: consent.Given}, apperr.Invalid, "purpose", "unknown_purpose"},
		{"unknown contact", person, consent.Event{ContactID: "nobody", Purpose: "newsletter", State: consent.Given}, apperr.NotFound, "", ""},
		{"a purpose on a contract", person, consent.Event{ContactID: id, Purpose: delivery.ID, State: consent.Given}, apperr.Invalid, "purpose", "not_consent_based"},
		{"staff over a withdrawal", staffA, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, Method: consent.MethodAPI}, apperr.Conflict, "state", "withdrawn"},
		{"staff over a refusal", staffA, consent.Event{ContactID: refuser, Purpose: "newsletter", State: consent.Given, Method: consent.MethodAPI}, apperr.Conflict, "state", "refused"},
		{"staff recording a double opt-in", staffA, consent.Event{ContactID: e.contact(t, "new@example.org"), Purpose: "newsletter", State: consent.Given, Method: consent.MethodDoubleOptIn}, apperr.Invalid, "method", "method_reserved"},
		{"an unpublished policy version", person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, PolicyVersions: map[string]string{consent.DocPrivacyPolicy: "1"}}, apperr.Invalid, "policy_versions", "unknown_version"},
		{"an occurred time far ahead", person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, OccurredAt: start.Add(time.Hour)}, apperr.Invalid, "occurred_at", "in_future"},
	} {
		if tc.ev.Method == "" {
			tc.ev.Method = consent.MethodWebForm
		}
		_, err := e.consent.Record(tc.ctx, tc.ev)
		if ae := apperr.As(err); ae == nil || ae.Kind != tc.kind || ae.Field != tc.field || ae.Reason != tc.reason {
			t.Errorf("%s: %v; want %s %s on %q", tc.name, err, tc.kind, tc.reason, tc.field)
		}
	}
	if _, err := e.consent.Record(person, consent.Event{ContactID: id, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}); err != nil {
		t.Errorf("the person's own opt-in after a withdrawal: %v; want it recorded", err)
	}

	r := e.contact(t, "restricted@example.org")
	e.record(t, person, consent.Event{ContactID: r, Purpose: "newsletter", State: consent.Given})
	if _, err := e.contacts.SetRestricted(staffA, r, true); err != nil {
		t.Fatal(err)
	}
	for _, st := range []consent.State{consent.Given, consent.Requested} {
		_, err := e.consent.Record(person, consent.Event{ContactID: r, Purpose: "newsletter", State: st, Method: consent.MethodWebForm})
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Forbidden || ae.Reason != "restricted" {
			t.Errorf("%s for a restricted contact: %v; want Forbidden restricted", st, err)
		}
	}
	if _, err := e.consent.Record(person, consent.Event{ContactID: r, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick}); err != nil {
		t.Errorf("a withdrawal by a restricted contact: %v; want it recorded", err)
	}
}

// TestStaffApprovalNeedsASecondPerson: consent staff record for a purpose with staff_approval
// counts only once another staff member approves it (four eyes); until then the gate answers
// pending_approval and the event is not the current state.
func TestStaffApprovalNeedsASecondPerson(t *testing.T) {
	e := newEnv(t)
	e.purpose(t, consent.Purpose{ID: "calls", Name: "Sales calls", LawfulBasis: consent.BasisConsent, StaffApproval: true})
	id := e.contact(t, "cai@example.org")
	ev := e.record(t, staffA, consent.Event{ContactID: id, Purpose: "calls", State: consent.Given, Method: consent.MethodStaff, Evidence: consent.Evidence{Note: "phone call, notes in the CRM"}})
	if ev.Approval != "pending" {
		t.Fatalf("staff consent for an approval purpose: approval %q; want pending", ev.Approval)
	}
	seq := e.lastSeq(t)
	if d := e.check(t, id, "calls"); d.Allowed || d.Reason != consent.ReasonPendingApproval {
		t.Errorf("Check before approval = %+v; want pending_approval", d)
	}
	if _, err := e.consent.Approve(staffA, id, ev.ID); apperr.As(err) == nil || apperr.As(err).Reason != "same_actor" {
		t.Errorf("approval by the recorder: %v; want Forbidden same_actor", err)
	}
	got, err := e.consent.Approve(staffB, id, ev.ID)
	if err != nil || got.Approval != "approved" || got.ApprovedBy != "token:tokB" {
		t.Fatalf("approval by another: %+v, %v; want approved by token:tokB", got, err)
	}
	if d := e.check(t, id, "calls"); !d.Allowed || d.Reason != consent.ReasonConsentGiven {
		t.Errorf("Check after approval = %+v; want allowed", d)
	}
	if cs := e.changes(t, seq); len(cs) != 1 || cs[0].Change != "given" || cs[0].Purpose != "calls" {
		t.Errorf("changes on approval = %+v; want one given", cs)
	}
	if _, err := e.consent.Approve(staffB, id, ev.ID); apperr.As(err) == nil || apperr.As(err).Reason != "not_pending" {
		t.Errorf("a second approval: %v; want Conflict not_pending", err)
	}
	if _, err := e.consent.Approve(staffB, id, "no-such-event"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("approval of an unknown event: %v; want NotFound", err)
	}
	audits := e.audits(t, "contact", id)
	if last := audits[len(audits)-1]; last.Action != "consent.approve" || last.Actor.ID != "tokB" || last.Purpose != "calls" {
		t.Errorf("last audit event = %+v; want consent.approve by tokB", last)
	}
}

// TestPurposesCatalogue: purposes are created validated and audited, listed in id order and
// read by id; the default newsletter and terms purposes exist once however often start-up runs.
func TestPurposesCatalogue(t *testing.T) {
	e := newEnv(t)
	if err := e.consent.EnsureDefaultPurpose(staffA); err != nil {
		t.Fatal(err)
	}
	p := e.purpose(t, consent.Purpose{ID: "events", Name: "Event invitations", LawfulBasis: consent.BasisConsent, ConsentValidDays: 730})
	if !p.CreatedAt.Equal(start) {
		t.Errorf("CreatedAt = %s; want %s", p.CreatedAt, start)
	}
	all, err := e.consent.Purposes(staffA)
	var ids []string
	for _, q := range all {
		ids = append(ids, q.ID)
	}
	if err != nil || !slices.Equal(ids, []string{"events", "newsletter", "terms-of-service"}) {
		t.Errorf("Purposes = %q, %v", ids, err)
	}
	if got, err := e.consent.Purpose(staffA, "events"); err != nil || got.ConsentValidDays != 730 {
		t.Errorf("Purpose(events) = %+v, %v", got, err)
	}
	if _, err := e.consent.Purpose(staffA, "nope"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Purpose(nope): %v; want NotFound", err)
	}
	if _, err := e.consent.CreatePurpose(staffA, p); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("a second purpose with the id: %v; want Conflict", err)
	}
	if _, err := e.consent.CreatePurpose(staffA, consent.Purpose{ID: "x", Name: "X", LawfulBasis: "gdpr"}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("a purpose without a DPV basis: %v; want Invalid", err)
	}
	if evs := e.audits(t, "purpose", "events"); len(evs) != 1 || evs[0].Action != "purpose.create" {
		t.Errorf("audit of the purpose = %+v", evs)
	}
}
