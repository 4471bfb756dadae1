package dsr_test

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/dsr"
)

// TestReplayUnboundRequest (retrial of issue 11, F4): an open verified erasure request of a
// person the restored store lacks goes back in the queue bound to no contact, once; a second run
// and ReplayRequest of the same line change nothing; completing it answers without a contact;
// a closed line or an access request is NotFound.
func TestReplayUnboundRequest(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC()
	line := dsr.Request{ID: "0190aaaa-0000-7000-8000-000000000001", Type: dsr.TypeErasure, State: dsr.StateInProgress,
		ContactID: "0190aaaa-0000-7000-8000-0000000000c1", Channel: dsr.Channel("email"), ReceivedAt: now.Add(-24 * time.Hour),
		DueAt: now.Add(29 * 24 * time.Hour)}
	if applied, err := w.svc.ReplayRequest(staff(), line); applied || !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("ReplayRequest of a person not held = %v, %v; want NotFound", applied, err)
	}
	if applied, err := w.svc.ReplayUnboundRequest(staff(), line); !applied || err != nil {
		t.Fatalf("ReplayUnboundRequest = %v, %v; want applied", applied, err)
	}
	got := w.only(t)
	if got.ContactID != "" || got.State != dsr.StateInProgress || !got.DueAt.Equal(line.DueAt) || got.Type != dsr.TypeErasure {
		t.Errorf("re-created: %+v; want in_progress erasure, unbound, due %s", got, line.DueAt)
	}
	for name, again := range map[string]func() (bool, error){
		"unbound again": func() (bool, error) { return w.svc.ReplayUnboundRequest(staff(), line) },
		"bound path":    func() (bool, error) { return w.svc.ReplayRequest(staff(), line) },
	} {
		if applied, err := again(); applied || err != nil {
			t.Errorf("%s: %v, %v; want nothing applied, no error", name, applied, err)
		}
	}
	access := line
	access.ID, access.Type = "0190aaaa-0000-7000-8000-000000000002", dsr.TypeAccess
	if _, err := w.svc.ReplayUnboundRequest(staff(), access); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("access line: %v; want NotFound", err)
	}
	if _, err := w.svc.Complete(staff(), line.ID, dsr.Completion{}); err != nil {
		t.Fatalf("completing the re-created request: %v", err)
	}
	if got := w.only(t); got.State != dsr.StateCompleted {
		t.Errorf("after completing: %s", got.State)
	}
}
