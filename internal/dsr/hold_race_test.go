package dsr_test

import (
	"context"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/store"
)

// afterFirstUpdate runs then once, right after the first read-write transaction commits (a
// completion's preparation): a change made between the check and the erasure.
type afterFirstUpdate struct {
	dsr.Store
	then func()
}

func (s *afterFirstUpdate) Update(ctx context.Context, fn func(dsr.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	if s.then != nil {
		then := s.then
		s.then = nil
		then()
	}
	return err
}

// TestErasureCompletionHonoursALateHold: a legal hold set after the completion of an erasure
// request was prepared (hold checked, receipt written) still keeps the person: the erasure's own
// transaction checks it again and the completion answers Conflict legal_hold (GDPR Art. 17(3)(e)).
// Found by the issue 12 trial.
func TestErasureCompletionHonoursALateHold(t *testing.T) {
	w := newWorld(t)
	c := newContact(t, w, contact.Input{Email: "hedda@example.org", FirstName: "Hedda"})
	r := inProgress(t, w, dsr.TypeErasure, "hedda@example.org", c.ID)
	svc := *w.svc
	svc.Store = &afterFirstUpdate{Store: svc.Store, then: func() {
		if err := w.db.Update(context.Background(), func(tx store.Tx) error { return tx.SetLegalHold(context.Background(), c.ID, true) }); err != nil {
			t.Fatal(err)
		}
	}}
	_, err := svc.Complete(staff(), r.ID, dsr.Completion{})
	if e := apperr.As(err); e == nil || e.Kind != apperr.Conflict || e.Reason != "legal_hold" {
		t.Fatalf("Complete with a hold set after its preparation: %v; want Conflict legal_hold", err)
	}
	if _, err := w.contacts.Get(context.Background(), c.ID); err != nil {
		t.Errorf("the held contact after the refused completion: %v; want it kept", err)
	}
	if v := w.only(t); !v.Open() {
		t.Errorf("request after the refused completion: %s; want it still open", v.State)
	}
}
