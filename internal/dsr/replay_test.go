package dsr_test

import (
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

// TestReplayClosesOnlyTheRequestItNames (review of issue 11): a ledger request line closes the
// store's open request of its id only when the type and contact match too; a line saying
// "rejected" for that id with another type or contact (a crafted or mixed-up file) is refused
// (Invalid) and the request stays open, holding the person, instead of ending the hold without a
// word to them.
func TestReplayClosesOnlyTheRequestItNames(t *testing.T) {
	w := newWorld(t)
	c := newContact(t, w, contact.Input{Email: "rut@example.org", FirstName: "Rut"})
	other := newContact(t, w, contact.Input{Email: "ragnar@example.org", FirstName: "Ragnar"})
	v := inProgress(t, w, dsr.TypeErasure, "rut@example.org", c.ID)
	closed := time.Now().UTC()
	line := dsr.Request{ID: v.ID, Type: dsr.TypeErasure, State: dsr.StateRejected, ContactID: c.ID, Channel: v.Channel,
		ReceivedAt: v.ReceivedAt, DueAt: v.DueAt, CompletedAt: &closed}
	for name, bad := range map[string]func(r *dsr.Request){
		"another type":    func(r *dsr.Request) { r.Type = dsr.TypeRestriction },
		"another contact": func(r *dsr.Request) { r.ContactID = other.ID },
	} {
		r := line
		bad(&r)
		if applied, err := w.svc.ReplayRequest(staff(), r); applied || !apperr.Is(err, apperr.Invalid) {
			t.Errorf("%s: ReplayRequest = %v, %v; want Invalid, nothing applied", name, applied, err)
		}
		if got := w.only(t); got.State != dsr.StateInProgress {
			t.Errorf("%s: the request is %s after the line; want in_progress", name, got.State)
		}
	}
	if applied, err := w.svc.ReplayRequest(staff(), line); !applied || err != nil {
		t.Errorf("the matching line: ReplayRequest = %v, %v; want applied", applied, err)
	}
	if got := w.only(t); got.State != dsr.StateRejected {
		t.Errorf("after the matching line the request is %s; want rejected", got.State)
	}
}
