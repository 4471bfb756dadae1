package dsr

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNewRequest(t *testing.T) {
	r, err := New("r1", TypeAccess, ChannelPortal, at("2027-01-31T09:00:00+01:00"))
	if err != nil || r.State != StateReceived || !r.ReceivedAt.Equal(at("2027-01-31T08:00:00Z")) || r.ReceivedAt.Location() != time.UTC ||
		!r.DueAt.Equal(at("2027-02-28T08:00:00Z")) || r.ExtendedUntil != nil || r.CompletedAt != nil || r.ContactID != "" {
		t.Fatalf("New = %+v, %v; want received, in UTC, due 28 Feb", r, err)
	}
	for _, tc := range []struct {
		typ   Type
		ch    Channel
		field string
	}{{"deletion", ChannelAPI, "type"}, {TypeErasure, "fax", "channel"}} {
		_, err := New("r", tc.typ, tc.ch, time.Now())
		if e := apperr.As(err); e == nil || e.Kind != apperr.Invalid || e.Field != tc.field {
			t.Errorf("New(%q, %q) = %v; want Invalid naming %s", tc.typ, tc.ch, err, tc.field)
		}
	}
}

// TestRequestLifecycle walks received → verifying → in_progress → extended → completed and
// checks that every other step is refused as a Conflict and changes nothing.
func TestRequestLifecycle(t *testing.T) {
	received := at("2026-11-30T09:00:00Z")
	r, _ := New("r1", TypeErasure, ChannelEmail, received)
	isConflict := func(step string, err error) {
		t.Helper()
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("%s from %s: %v; want Conflict", step, r.State, err)
		}
	}
	isConflict("complete", r.Complete(received))
	isConflict("extend", r.Extend(1, "many requests", received))
	// Found by a trial: these 409s named no reason.
	if e := apperr.As(r.Extend(1, "many requests", received)); e == nil || e.Reason != "identity_pending" {
		t.Errorf("extend while identity is pending: %v; want reason identity_pending", e)
	}
	if e := apperr.As(r.Complete(received)); e == nil || e.Reason != "invalid_state" {
		t.Errorf("complete from received: %v; want reason invalid_state", e)
	}
	if err := r.StartVerifying(); err != nil || r.State != StateVerifying {
		t.Fatalf("verifying: %v %s", err, r.State)
	}
	if err := r.StartVerifying(); err != nil || r.State != StateVerifying { // a new link
		t.Fatalf("verifying again: %v %s", err, r.State)
	}
	if err := r.Verified("c1"); err != nil || r.State != StateInProgress || r.ContactID != "c1" {
		t.Fatalf("verified: %v %+v", err, r)
	}
	isConflict("verified again", r.Verified("c2"))
	if r.ContactID != "c1" {
		t.Errorf("a second verification rebound the request to %s", r.ContactID)
	}
	for _, tc := range []struct {
		months int
		reason string
		field  string
	}{{3, "complex", "months"}, {0, "complex", "months"}, {1, "  ", "reason"}} {
		if e := apperr.As(r.Extend(tc.months, tc.reason, received)); e == nil || e.Field != tc.field || r.State != StateInProgress {
			t.Errorf("Extend(%d, %q) = %v; want Invalid naming %s, nothing changed", tc.months, tc.reason, e, tc.field)
		}
	}
	isConflict("extend after due_at", r.Extend(2, "complex", at("2026-12-30T09:00:01Z")))
	if err := r.Extend(2, "three systems to search", at("2026-12-30T09:00:00Z")); err != nil || r.State != StateExtended ||
		!r.ExtendedUntil.Equal(at("2027-02-28T09:00:00Z")) || !r.Deadline().Equal(*r.ExtendedUntil) {
		t.Fatalf("extend by 2 on the due date: %v %+v; want extended until 28 Feb 2027", err, r)
	}
	isConflict("extend twice", r.Extend(1, "again", at("2026-12-01T00:00:00Z")))
	if r.Overdue(at("2027-02-28T09:00:00Z")) || !r.Overdue(at("2027-02-28T09:00:01Z")) {
		t.Error("overdue should start just after the extended deadline")
	}
	done := at("2027-01-15T12:00:00Z")
	if err := r.Complete(done); err != nil || r.State != StateCompleted || !r.CompletedAt.Equal(done) || r.Open() || r.Overdue(at("2030-01-01T00:00:00Z")) {
		t.Fatalf("complete: %v %+v", err, r)
	}
	isConflict("reject after completion", r.Reject("too late", done))
	isConflict("complete twice", r.Complete(done))
}

func TestRequestReject(t *testing.T) {
	r, _ := New("r2", TypeAccess, ChannelPortal, at("2026-11-30T09:00:00Z"))
	if e := apperr.As(r.Reject("", at("2026-12-01T00:00:00Z"))); e == nil || e.Field != "reason" || r.State != StateReceived {
		t.Errorf("reject without reason: %v; want Invalid naming reason, nothing changed", e)
	}
	if err := r.Reject("manifestly unfounded: the fifth identical request this week", at("2026-12-01T00:00:00Z")); err != nil || r.State != StateRejected || r.CompletedAt == nil {
		t.Errorf("reject: %v %+v", err, r)
	}
	if r.Overdue(at("2027-06-01T00:00:00Z")) {
		t.Error("a rejected request is never overdue")
	}
}
