package dsr_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

func agent() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-agent", Role: "agent"})
}

// TestVerifyRefusesAnAddressGivenAfterTheRequest: an agent may not bind a stranger's request to
// someone's record by first giving the record the stranger's address (found by the issue 12
// trial: an access bundle went to the stranger). The address must have been the contact's before
// the request came in; otherwise only confirm_other_address (contacts.restrict) binds it.
func TestVerifyRefusesAnAddressGivenAfterTheRequest(t *testing.T) {
	w := newWorld(t)
	erik := newContact(t, w, contact.Input{Email: "erik@example.org", FirstName: "Erik"})
	r, err := w.svc.Create(agent(), dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelEmail, Email: "stranger@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Verify(agent(), r.ID, erik.ID, "matches"); apperr.As(err) == nil || apperr.As(err).Reason != "address_mismatch" {
		t.Fatalf("Verify against another address: %v; want address_mismatch", err)
	}
	w.now = w.now.Add(time.Minute)
	stranger := "stranger@example.org"
	if _, err := w.contacts.UpdateByStaff(agent(), erik.ID, contact.Patch{Email: &stranger}, false); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.Verify(agent(), r.ID, erik.ID, "matches now")
	if e := apperr.As(err); e == nil || e.Kind != apperr.Conflict || e.Reason != "address_mismatch" || e.Field != "contact_id" {
		t.Fatalf("Verify after the agent gave Erik the requester's address: %v; want Conflict address_mismatch", err)
	}
	if _, err := w.svc.VerifyOtherAddress(agent(), r.ID, erik.ID, "matches now"); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("VerifyOtherAddress as an agent: %v; want Forbidden", err)
	}
	if v, err := w.svc.VerifyOtherAddress(staff(), r.ID, erik.ID, "the DPO checked a signed letter"); err != nil || v.State != dsr.StateInProgress {
		t.Errorf("VerifyOtherAddress as a DPO = %+v, %v; want bound", v, err)
	}

	// An address the contact had before the request came in binds as before.
	ylva := newContact(t, w, contact.Input{Email: "ylva@example.org", FirstName: "Ylva"})
	w.now = w.now.Add(time.Minute)
	inProgress(t, w, dsr.TypeAccess, "ylva@example.org", ylva.ID)
}
