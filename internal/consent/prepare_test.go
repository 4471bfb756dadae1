package consent_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/keys"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func service(t *testing.T) (*consent.Service, *keys.DataKey) {
	t.Helper()
	dir := t.TempDir()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "k.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := kr.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	return &consent.Service{Keys: kr, Now: func() time.Time { return now }, NewID: func() string { n++; return "ev" + string(rune('0'+n)) }}, dk
}

// TestPrepareRefuses lists every rule Prepare enforces, each with the field and reason it names.
func TestPrepareRefuses(t *testing.T) {
	s, dk := service(t)
	newsletter := consent.DefaultPurpose(now)
	contract := consent.Purpose{ID: "delivery", Name: "Delivery", LawfulBasis: consent.BasisContract}
	ok := consent.Event{ContactID: "c1", Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}
	for _, tc := range []struct {
		name          string
		p             consent.Purpose
		mod           func(*consent.Event)
		field, reason string
	}{
		{"unknown state", newsletter, func(e *consent.Event) { e.State = "dpv:ConsentMaybe" }, "state", "invalid_state"},
		{"unknown method", newsletter, func(e *consent.Event) { e.Method = "carrier-pigeon" }, "method", "invalid_method"},
		{"purpose not based on consent", contract, func(e *consent.Event) { e.Purpose = "delivery" }, "purpose", "not_consent_based"},
		{"one-click unsubscribe giving consent", newsletter, func(e *consent.Event) { e.Method = consent.MethodOneClick }, "method", "method_state_mismatch"},
		{"GPC giving consent", newsletter, func(e *consent.Event) { e.Method = consent.MethodGPC }, "method", "method_state_mismatch"},
		{"staff without evidence", newsletter, func(e *consent.Event) { e.Method = consent.MethodStaff }, "evidence", "evidence_required"},
		{"in the future", newsletter, func(e *consent.Event) { e.OccurredAt = now.Add(time.Hour) }, "occurred_at", "in_future"},
		{"before 1990", newsletter, func(e *consent.Event) { e.OccurredAt = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC) }, "occurred_at", "too_early"},
		{"empty version", newsletter, func(e *consent.Event) { e.PolicyVersions = map[string]string{"privacy_policy": ""} }, "policy_versions", "invalid_version"},
		{"control character", newsletter, func(e *consent.Event) { e.PolicyVersions = map[string]string{"privacy_policy": "3\x00"} }, "policy_versions", "invalid_version"},
		{"bad document name", newsletter, func(e *consent.Event) { e.PolicyVersions = map[string]string{"Privacy Policy": "3"} }, "policy_versions", "invalid_document"},
		{"too many documents", newsletter, func(e *consent.Event) {
			e.PolicyVersions = map[string]string{}
			for i := range 21 {
				e.PolicyVersions["doc-"+string(rune('a'+i))] = "1"
			}
		}, "policy_versions", "too_many"},
	} {
		e := ok
		tc.mod(&e)
		_, _, err := s.Prepare(context.Background(), tc.p, e, dk)
		ae := apperr.As(err)
		if ae == nil || ae.Kind != apperr.Invalid || ae.Field != tc.field || ae.Reason != tc.reason {
			t.Errorf("%s: err = %v; want Invalid %s/%s", tc.name, err, tc.field, tc.reason)
		}
	}
	for _, tc := range []struct {
		method consent.Method
		state  consent.State
	}{{consent.MethodOneClick, consent.Withdrawn}, {consent.MethodGPC, consent.Refused}, {consent.MethodGPC, consent.Withdrawn}, {consent.MethodDoubleOptIn, consent.Given}} {
		e := ok
		e.Method, e.State = tc.method, tc.state
		got, sealed, err := s.Prepare(context.Background(), newsletter, e, dk)
		if err != nil || got.ID == "" || !got.RecordedAt.Equal(now) || !got.OccurredAt.Equal(now) || got.NoticeHash != newsletter.NoticeHash() || sealed != nil {
			t.Errorf("%s %s: %+v, %v; want accepted with id, times and notice hash filled in", tc.method, tc.state, got, err)
		}
	}
}

func TestProject(t *testing.T) {
	p := consent.DefaultPurpose(now)
	given := consent.Current{State: consent.Given, OccurredAt: now}
	for _, tc := range []struct {
		name string
		e    consent.Event
		cur  *consent.Current
		want bool
	}{
		{"first event", consent.Event{State: consent.Requested, OccurredAt: now}, nil, true},
		{"later withdrawal", consent.Event{State: consent.Withdrawn, OccurredAt: now.Add(time.Second)}, &given, true},
		{"same-time withdrawal", consent.Event{State: consent.Withdrawn, OccurredAt: now}, &given, true},
		{"older withdrawal", consent.Event{State: consent.Withdrawn, OccurredAt: now.Add(-time.Hour)}, &given, false},
		{"later request never downgrades a given consent", consent.Event{State: consent.Requested, OccurredAt: now.Add(time.Hour)}, &given, false},
	} {
		got, ok := consent.Project(tc.e, p, tc.cur)
		if ok != tc.want || (ok && (got.State != tc.e.State || got.LawfulBasis != consent.BasisConsent)) {
			t.Errorf("%s: Project = %+v, %v; want replaced=%v", tc.name, got, ok, tc.want)
		}
	}
}

// TestPrepareStaffApproval: staff-recorded consent carries its evidence, and waits for a second
// staff member when the purpose says so.
func TestPrepareStaffApproval(t *testing.T) {
	s, dk := service(t)
	p := consent.DefaultPurpose(now)
	e := consent.Event{ContactID: "c1", Purpose: "newsletter", State: consent.Given, Method: consent.MethodStaff, Evidence: consent.Evidence{Note: "phone call, ticket 42"}}
	got, sealed, err := s.Prepare(context.Background(), p, e, dk)
	if err != nil || got.Approval != "" || sealed == nil {
		t.Errorf("without staff_approval: %+v, sealed %v, %v; want counted at once, evidence sealed", got, sealed != nil, err)
	}
	p.StaffApproval = true
	staff := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-1", Role: "agent"})
	got, _, err = s.Prepare(staff, p, e, dk)
	if err != nil || got.Approval != "pending" {
		t.Errorf("with staff_approval: approval %q, %v; want pending", got.Approval, err)
	}
	web := e
	web.Method = consent.MethodWebForm
	if got, _, err = s.Prepare(staff, p, web, dk); err != nil || got.Approval != "pending" {
		t.Errorf("staff naming another method: approval %q, %v; want pending all the same", got.Approval, err)
	}
	if got, _, err = s.Prepare(audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic}), p, web, dk); err != nil || got.Approval != "" {
		t.Errorf("the person's own web form: approval %q, %v; want counted at once", got.Approval, err)
	}
	e.State = consent.Withdrawn
	if got, _, err = s.Prepare(staff, p, e, dk); err != nil || got.Approval != "" {
		t.Errorf("a staff-recorded withdrawal: approval %q, %v; want counted at once (withdrawing must be as easy as giving)", got.Approval, err)
	}
}
