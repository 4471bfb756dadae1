package dsr_test

import (
	"context"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/personal"
	"github.com/tillit/tillit/internal/store"
)

// uncountingStore passes every transaction to the real store, with a PersonalFootprint that
// leaves one holding uncounted, as a backend that has not mapped it would.
type uncountingStore struct {
	dsr.Store
	skip string
}

func (s *uncountingStore) Update(ctx context.Context, fn func(dsr.Tx) error) error {
	return s.Store.Update(ctx, func(tx dsr.Tx) error { return fn(&uncountingTx{Tx: tx.(store.Tx), skip: s.skip}) })
}

type uncountingTx struct {
	store.Tx
	skip string
}

func (tx *uncountingTx) PersonalFootprint(ctx context.Context, contactID string) (map[string]int, error) {
	n, err := tx.Tx.PersonalFootprint(ctx, contactID)
	delete(n, tx.skip)
	return n, err
}

// TestErasureRefusesAReceiptWithAnUncountedHolding: when the store does not count a holding of
// the personal-data register, the receipt cannot say what was erased, so the erasure fails
// closed (Internal) before anything is deleted, rather than telling the person nothing was
// held there.
func TestErasureRefusesAReceiptWithAnUncountedHolding(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "uncounted@example.org"})
	r := inProgress(t, w, dsr.TypeErasure, "uncounted@example.org", c.ID)
	partial := *w.svc
	partial.Store = &uncountingStore{Store: w.svc.Store, skip: personal.Outbox}
	if _, err := partial.Complete(ctx, r.ID, dsr.Completion{}); !apperr.Is(err, apperr.Internal) {
		t.Fatalf("Complete with outbox uncounted: %v; want Internal", err)
	}
	if _, err := w.contacts.Get(ctx, c.ID); err != nil {
		t.Errorf("contact after the refused erasure: %v; want it still there", err)
	}
	if v, err := w.svc.Complete(ctx, r.ID, dsr.Completion{}); err != nil || v.State != dsr.StateCompleted {
		t.Fatalf("Complete with every holding counted = %+v, %v; want completed", v.Request, err)
	}
}
