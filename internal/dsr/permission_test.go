package dsr_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/store"
)

// permActor is one caller of the request service, by the actor its context carries.
type permActor struct {
	name string
	ctx  context.Context
}

func permToken(role string) permActor {
	return permActor{role, audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-" + role, Role: role})}
}

// permActors are every staff role, Tillit itself (no actor, and the retention sweep's), a
// local command and a public visitor.
var permActors = []permActor{
	permToken("admin"), permToken("dpo"), permToken("agent"), permToken("auditor"), permToken("processor"),
	{"system", context.Background()},
	{"retention", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorSystem, ID: "retention"})},
	{"cli", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "test"})},
	{"public", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic, ID: "requests"})},
}

// wantRoleForbidden fails unless err is Forbidden with reason role_forbidden, the field and a
// message holding every one of words.
func wantRoleForbidden(t *testing.T, what string, err error, field string, words ...string) {
	t.Helper()
	e := apperr.As(err)
	if e == nil || e.Kind != apperr.Forbidden || e.Reason != "role_forbidden" || e.Field != field {
		t.Errorf("%s: %v; want Forbidden role_forbidden on field %q", what, err, field)
		return
	}
	for _, w := range words {
		if !strings.Contains(e.Message, w) {
			t.Errorf("%s: message %q does not say %q", what, e.Message, w)
		}
	}
}

// TestClosingARequestNeedsThePermissionOfItsType: completing or rejecting an erasure needs
// contacts.erase, a restriction contacts.restrict (CloseNeeds), read by the service from the
// context's actor for every caller; an access request needs neither. A refusal changes nothing.
func TestClosingARequestNeedsThePermissionOfItsType(t *testing.T) {
	w := newWorld(t)
	may := map[dsr.Type][]string{
		dsr.TypeErasure:     {"admin", "dpo", "system", "retention", "cli"},
		dsr.TypeRestriction: {"admin", "dpo", "system", "retention", "cli"},
		dsr.TypeAccess:      {"admin", "dpo", "agent", "auditor", "processor", "system", "retention", "cli", "public"},
	}
	needs := map[dsr.Type]string{dsr.TypeErasure: "contacts.erase", dsr.TypeRestriction: "contacts.restrict"}
	n := 0
	for _, typ := range []dsr.Type{dsr.TypeErasure, dsr.TypeRestriction, dsr.TypeAccess} {
		for _, op := range []string{"complete", "reject"} {
			for _, a := range permActors {
				n++
				email := fmt.Sprintf("closer%d@example.org", n)
				c := newContact(t, w, contact.Input{Email: email})
				r := inProgress(t, w, typ, email, c.ID)
				w.mails(t) // nothing yet; forget what Verify may have sent
				var v dsr.View
				var err error
				if op == "complete" {
					v, err = w.svc.Complete(a.ctx, r.ID, dsr.Completion{})
				} else {
					v, err = w.svc.Reject(a.ctx, r.ID, "No ground given.")
				}
				what := fmt.Sprintf("%s a %s request as %s", op, typ, a.name)
				if slices.Contains(may[typ], a.name) {
					want := dsr.StateCompleted
					if op == "reject" {
						want = dsr.StateRejected
					}
					if err != nil || v.State != want {
						t.Errorf("%s: %s, %v; want %s", what, v.State, err, want)
					}
					continue
				}
				wantRoleForbidden(t, what, err, "", "the "+a.name+" role", "a "+string(typ)+" request", "needs "+needs[typ])
				got, gerr := w.svc.Status(context.Background(), r.ID)
				if gerr != nil || got.State != dsr.StateInProgress || got.CompletedAt != nil {
					t.Errorf("%s: the request after the refusal: %+v, %v; want in progress, unchanged", what, got.Request, gerr)
				}
				if _, gerr := w.contacts.Get(context.Background(), c.ID); gerr != nil {
					t.Errorf("%s: the contact after the refusal: %v; want it kept", what, gerr)
				}
				if ms := w.mails(t); len(ms) != 0 {
					t.Errorf("%s: %d mails after the refusal; want none", what, len(ms))
				}
			}
		}
	}
}

// TestCorrectingARestrictedContactNeedsRestrict: a rectification request of a restricted contact
// is completed only by an actor that may restrict (contact.CheckRectify), or by Tillit itself;
// an agent corrects a contact that is not restricted.
func TestCorrectingARestrictedContactNeedsRestrict(t *testing.T) {
	w := newWorld(t)
	may := []string{"admin", "dpo", "system", "retention", "cli"}
	for i, a := range permActors {
		for _, restricted := range []bool{true, false} {
			email := fmt.Sprintf("rectify%d-%v@example.org", i, restricted)
			c := newContact(t, w, contact.Input{Email: email, LastName: "Lind"})
			if restricted {
				if _, err := w.contacts.SetRestricted(staff(), c.ID, true); err != nil {
					t.Fatal(err)
				}
			}
			r := inProgress(t, w, dsr.TypeRectification, email, c.ID)
			v, err := w.svc.Complete(a.ctx, r.ID, dsr.Completion{Changes: &contact.Patch{LastName: strPtr("Berg")}})
			what := fmt.Sprintf("%s correcting a contact (restricted %v)", a.name, restricted)
			if !restricted || slices.Contains(may, a.name) {
				if err != nil || v.State != dsr.StateCompleted {
					t.Errorf("%s: %s, %v; want completed", what, v.State, err)
				}
				continue
			}
			wantRoleForbidden(t, what, err, "", "the "+a.name+" role may not correct a restricted contact", "GDPR Art. 18", "needs contacts.restrict")
			if cur, _ := w.contacts.Get(staff(), c.ID); cur.LastName != "Lind" || cur.Version != 2 {
				t.Errorf("%s: contact after the refusal: %q version %d; want Lind at version 2 (only restricted)", what, cur.LastName, cur.Version)
			}
			if got, _ := w.svc.Status(context.Background(), r.ID); got.State != dsr.StateInProgress {
				t.Errorf("%s: request %s after the refusal; want in progress", what, got.State)
			}
		}
	}
}

// beforeWriteStore is a contact store that runs before, once, just before its next transaction
// begins: a change another member of staff commits between anything checked so far and the
// contact service's write.
type beforeWriteStore struct {
	contact.Store
	before func()
}

func (s *beforeWriteStore) Update(ctx context.Context, fn func(contact.Tx) error) error {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.Store.Update(ctx, fn)
}

// TestARestrictionJustBeforeTheCorrectionIsSeen: the rule on correcting a restricted contact is
// read in the transaction that corrects it. A DPO restricts the contact after the agent's
// completion has passed every check made before the write (the request's own transaction) and
// just before the correction's transaction begins: the correction is refused, not applied to a
// contact that has just been restricted (a check in a transaction of its own would have let it
// through).
func TestARestrictionJustBeforeTheCorrectionIsSeen(t *testing.T) {
	w := newWorld(t)
	agent := permToken("agent").ctx
	c := newContact(t, w, contact.Input{Email: "late.restriction@example.org", LastName: "Lind"})
	r := inProgress(t, w, dsr.TypeRectification, "late.restriction@example.org", c.ID)
	restricted := false
	cs := *w.contacts
	cs.Store = &beforeWriteStore{Store: w.contacts.Store, before: func() {
		if _, err := w.contacts.SetRestricted(staff(), c.ID, true); err != nil {
			t.Fatal(err)
		}
		restricted = true
	}}
	svc := *w.svc
	svc.Contacts = &cs
	_, err := svc.Complete(agent, r.ID, dsr.Completion{Changes: &contact.Patch{LastName: strPtr("Berg")}})
	if !restricted {
		t.Fatal("the completion wrote nothing through the contact service; the test injects nothing")
	}
	wantRoleForbidden(t, "agent correcting a contact restricted just before the write", err, "", "may not correct a restricted contact")
	cur, _ := w.contacts.Get(staff(), c.ID)
	if cur.LastName != "Lind" || !cur.Restricted {
		t.Errorf("contact = %q, restricted %v; want Lind, restricted", cur.LastName, cur.Restricted)
	}
	if n := countAction(contactAudit(t, w, c.ID), "contact.rectify"); n != 0 {
		t.Errorf("%d contact.rectify events; want none", n)
	}
	if got, _ := w.svc.Status(context.Background(), r.ID); got.State != dsr.StateInProgress {
		t.Errorf("request %s; want in progress", got.State)
	}
}

// TestVerifyingAnotherAddressNeedsRestrict: binding a request to a contact whose address on file
// is not the request's is for an actor that may restrict; the refusal names the API's field and
// comes before the input is looked at.
func TestVerifyingAnotherAddressNeedsRestrict(t *testing.T) {
	w := newWorld(t)
	may := []string{"admin", "dpo", "system", "retention", "cli"}
	for i, a := range permActors {
		c := newContact(t, w, contact.Input{Email: fmt.Sprintf("on.file%d@example.org", i)})
		r, err := w.svc.Create(staff(), dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelLetter, Email: fmt.Sprintf("new.address%d@example.org", i)})
		if err != nil {
			t.Fatal(err)
		}
		v, err := w.svc.VerifyOtherAddress(a.ctx, r.ID, c.ID, "passport seen at the counter")
		if slices.Contains(may, a.name) {
			if err != nil || v.State != dsr.StateInProgress || v.ContactID != c.ID {
				t.Errorf("%s verifying another address: %+v, %v; want in progress, bound", a.name, v.Request, err)
			}
			continue
		}
		wantRoleForbidden(t, a.name+" verifying another address", err, "confirm_other_address",
			"confirm_other_address: the "+a.name+" role may not bind a request to a contact with another address (needs contacts.restrict)")
		if got, _ := w.svc.Status(context.Background(), r.ID); got.State != dsr.StateReceived || got.ContactID != "" {
			t.Errorf("%s: request after the refusal %+v; want received, unbound", a.name, got.Request)
		}
		// Before the input: an unknown request and no note are still the role's refusal.
		_, err = w.svc.VerifyOtherAddress(a.ctx, "no-such-request", "", "")
		wantRoleForbidden(t, a.name+" verifying another address with no input", err, "confirm_other_address")
	}
}

// TestExportNeedsAuditRead: the staff export holds the audit events about the person, so it is
// for an actor that may read the audit log; refused before anything is read, so no export is
// audited.
func TestExportNeedsAuditRead(t *testing.T) {
	w := newWorld(t)
	c := newContact(t, w, contact.Input{Email: "exported@example.org", FirstName: "Ebbe"})
	may := []string{"admin", "dpo", "auditor", "system", "retention", "cli"}
	exports := 0
	for _, a := range permActors {
		zip, err := w.svc.Export(a.ctx, c.ID)
		if slices.Contains(may, a.name) {
			if err != nil || len(zip) == 0 {
				t.Errorf("%s exporting: %d bytes, %v; want the bundle", a.name, len(zip), err)
			}
			exports++
			continue
		}
		wantRoleForbidden(t, a.name+" exporting", err, "", "the "+a.name+" role may not export a contact", "needs audit.read")
		if _, err := w.svc.Export(a.ctx, "no-such-contact"); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("%s exporting an unknown contact: %v; want Forbidden before the lookup", a.name, err)
		}
	}
	if n := countAction(contactAudit(t, w, c.ID), "contact.export"); n != exports {
		t.Errorf("%d contact.export events; want %d (one per allowed export)", n, exports)
	}
}

// TestEraseContactRefusals: staff's direct erasure waits for a legal hold to be lifted and for
// the person's open requests (an erasure request first) to be answered.
func TestEraseContactRefusals(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	if err := w.svc.EraseContact(ctx, "no-such-contact"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("erasing an unknown contact: %v; want NotFound", err)
	}

	held := newContact(t, w, contact.Input{Email: "held@example.org"})
	permSetHold(t, w, held.ID, true)
	wantConflict(t, "erasing a contact under legal hold", w.svc.EraseContact(ctx, held.ID), "legal_hold", "")
	permSetHold(t, w, held.ID, false)
	if err := w.svc.EraseContact(ctx, held.ID); err != nil {
		t.Errorf("erasing once the hold is lifted: %v", err)
	}
	if _, err := w.contacts.Get(ctx, held.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("the contact after the erasure: %v; want NotFound", err)
	}

	asked := newContact(t, w, contact.Input{Email: "asked@example.org"})
	access := inProgress(t, w, dsr.TypeAccess, "asked@example.org", asked.ID)
	erasure := inProgress(t, w, dsr.TypeErasure, "asked@example.org", asked.ID)
	wantConflict(t, "erasing with an open erasure request", w.svc.EraseContact(ctx, asked.ID), "open_erasure_request", erasure.ID)
	if _, err := w.svc.Reject(ctx, erasure.ID, "Asked by someone else."); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "erasing with an open access request", w.svc.EraseContact(ctx, asked.ID), "open_request", access.ID)
	if _, err := w.contacts.Get(ctx, asked.ID); err != nil {
		t.Errorf("the contact after the refusals: %v; want it kept", err)
	}
}

func wantConflict(t *testing.T, what string, err error, reason, id string) {
	t.Helper()
	if e := apperr.As(err); e == nil || e.Kind != apperr.Conflict || e.Reason != reason || e.ID != id {
		t.Errorf("%s: %v; want Conflict %s with id %q", what, err, reason, id)
	}
}

func permSetHold(t *testing.T, w *world, contactID string, on bool) {
	t.Helper()
	if err := w.db.Update(context.Background(), func(tx store.Tx) error { return tx.SetLegalHold(context.Background(), contactID, on) }); err != nil {
		t.Fatal(err)
	}
}

// spyStore numbers the contact service's transactions and logs, as "n:Method", the reads of the
// direct erasure's rule and the erasure's write; after the transaction that read the legal hold
// commits, it runs after once.
type spyStore struct {
	contact.Store
	calls int
	log   []string
	after func()
}

func (s *spyStore) Update(ctx context.Context, fn func(contact.Tx) error) error {
	s.calls++
	n := s.calls
	checked := false
	err := s.Store.Update(ctx, func(tx contact.Tx) error {
		return fn(&spyTx{Tx: tx.(store.Tx), n: n, s: s, checked: &checked})
	})
	if f := s.after; checked && f != nil {
		s.after = nil
		f()
	}
	return err
}

type spyTx struct {
	store.Tx
	n       int
	s       *spyStore
	checked *bool
}

func (tx *spyTx) LegalHold(ctx context.Context, contactID string) (bool, error) {
	*tx.checked = true
	tx.s.log = append(tx.s.log, fmt.Sprintf("%d:LegalHold", tx.n))
	return tx.Tx.LegalHold(ctx, contactID)
}

func (tx *spyTx) RequestsByContact(ctx context.Context, contactID string) ([]*dsr.Record, error) {
	tx.s.log = append(tx.s.log, fmt.Sprintf("%d:RequestsByContact", tx.n))
	return tx.Tx.RequestsByContact(ctx, contactID)
}

func (tx *spyTx) DeleteContact(ctx context.Context, id string) error {
	tx.s.log = append(tx.s.log, fmt.Sprintf("%d:DeleteContact", tx.n))
	return tx.Tx.DeleteContact(ctx, id)
}

// TestEraseContactChecksInTheErasuresTransaction: the direct erasure's rule reads the legal hold
// and the open requests in the transaction that deletes the contact, so a hold placed as soon as
// that check has committed finds the contact gone: no hold can land between the check and the
// erasure (with the check in a transaction of its own, as MayErase was, the hold placed here
// would have committed first and the contact would have been erased under it).
func TestEraseContactChecksInTheErasuresTransaction(t *testing.T) {
	w := newWorld(t)
	c := newContact(t, w, contact.Input{Email: "raced@example.org"})
	var holdErr error
	spy := &spyStore{Store: w.contacts.Store}
	spy.after = func() {
		holdErr = w.db.Update(context.Background(), func(tx store.Tx) error { return tx.SetLegalHold(context.Background(), c.ID, true) })
	}
	cs := *w.contacts
	cs.Store = spy
	svc := *w.svc
	svc.Contacts = &cs
	if err := svc.EraseContact(staff(), c.ID); err != nil {
		t.Fatalf("EraseContact: %v", err)
	}
	// The second read of the requests is the erasure's own (dsr.Service.ErasingIn closes them).
	if want := []string{"1:LegalHold", "1:RequestsByContact", "1:RequestsByContact", "1:DeleteContact"}; !slices.Equal(spy.log, want) || spy.calls != 1 {
		t.Errorf("transactions %d, log %q; want one transaction: %q", spy.calls, spy.log, want)
	}
	if !apperr.Is(holdErr, apperr.NotFound) {
		t.Errorf("legal hold placed right after the check committed: %v; want NotFound (erased in that commit)", holdErr)
	}
	if _, err := w.contacts.Get(staff(), c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("contact: %v; want erased", err)
	}

	// The other way round: a hold committed before the erasure's transaction is seen by it.
	d := newContact(t, w, contact.Input{Email: "held.first@example.org"})
	spy = &spyStore{Store: w.contacts.Store}
	cs.Store = &beforeWriteStore{Store: spy, before: func() { permSetHold(t, w, d.ID, true) }}
	wantConflict(t, "erasure after a hold", svc.EraseContact(staff(), d.ID), "legal_hold", "")
	if want := []string{"1:LegalHold"}; !slices.Equal(spy.log, want) {
		t.Errorf("log %q; want %q (refused before any write)", spy.log, want)
	}
	if _, err := w.contacts.Get(staff(), d.ID); err != nil {
		t.Errorf("held contact: %v; want kept", err)
	}
}
