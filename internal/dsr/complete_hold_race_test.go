package dsr_test

import (
	"context"
	"testing"

	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

// afterFirstUpdate is a dsr.Store that runs between once, after its first transaction commits.
type afterFirstUpdate struct {
	dsr.Store
	between func()
}

func (s *afterFirstUpdate) Update(ctx context.Context, fn func(dsr.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	if f := s.between; f != nil {
		s.between = nil
		f()
	}
	return err
}

// TestCompletingAnErasureSeesAHoldPlacedAfterPrepare (review of issue 12): completing an erasure
// request checks the legal hold in its first transaction (prepare) and then erases with
// contact.Service.Erase in another one that does not look again, so a hold placed in between is
// erased over (GDPR Art. 17(3)(e)). Issue 12 moved staff's direct erasure to a guard inside the
// erasure's transaction (dsr.Service.EraseContact, contact.Guard) for exactly this race; the
// request's own erasure path still has it.
func TestCompletingAnErasureSeesAHoldPlacedAfterPrepare(t *testing.T) {
	w := newWorld(t)
	c := newContact(t, w, contact.Input{Email: "disputed@example.org", FirstName: "Disa"})
	r := inProgress(t, w, dsr.TypeErasure, "disputed@example.org", c.ID)
	svc := *w.svc
	svc.Store = &afterFirstUpdate{Store: w.svc.Store, between: func() { permSetHold(t, w, c.ID, true) }}
	_, err := svc.Complete(staff(), r.ID, dsr.Completion{Note: "erased as asked"})
	if _, gerr := w.contacts.Get(staff(), c.ID); gerr != nil {
		t.Errorf("a legal hold placed after the completion's first transaction: Complete = %v, and the contact is erased (%v); want the hold honoured (Conflict legal_hold, contact kept)", err, gerr)
	}
}
