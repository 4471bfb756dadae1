package contact_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/store"
)

func ptr[T any](v T) *T { return &v }

// changeNames returns "contact:change" for each entry of the change stream.
func changeNames(cs []consent.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ContactID[len(c.ContactID)-1:] + ":" + c.Change
	}
	return out
}

// TestUpdateAuditsChangedFieldNames: an update bumps the version, is audited with the names of
// the changed fields (never values) and, since the answer carries the whole contact, as a read
// of the fields held (GDPR Art. 5(2)); processors are told to fetch the data again (Art. 19:
// "rectified"); consent is never touched by a profile edit (doc.go). A patch that changes
// nothing writes nothing but the read.
func TestUpdateAuditsChangedFieldNames(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	c, _ := e.contacts.Create(ctx, contact.Input{Email: "lena@example.se", FirstName: "Lena"})
	if _, err := e.consent.Record(ctx, consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.consent.History(ctx, c.ID)
	e.now = t0.Add(time.Hour)
	got, err := e.contacts.Update(ctx, c.ID, contact.Patch{FirstName: ptr("Helena"), Company: ptr("Holm AB")})
	if err != nil || got.FirstName != "Helena" || got.Company != "Holm AB" || got.Email != "lena@example.se" || got.Version != 2 || !got.UpdatedAt.Equal(e.now) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("Update = %+v, %v; want the two fields changed at version 2", got, err)
	}
	evs := actions(e.audits(t, c.ID))
	if want := []string{"contact.update:first_name,company", "contact.read:email,first_name,company"}; !slices.Equal(evs[len(evs)-2:], want) {
		t.Errorf("audit after the update: %q; want it to end with %q", evs, want)
	}
	after, _ := e.consent.History(ctx, c.ID)
	if len(after.Events) != len(before.Events) || len(after.Current) != 1 || after.Current[0].State != consent.Given {
		t.Errorf("consent after a profile edit: %+v; want it as before (%d events, given)", after, len(before.Events))
	}
	cs := e.changes(t)
	if last := cs[len(cs)-1]; last.Change != "rectified" || last.ContactID != c.ID || !last.OccurredAt.Equal(e.now) {
		t.Errorf("last change = %+v; want rectified at %s", last, e.now)
	}

	n, nc := len(e.audits(t, c.ID)), len(e.changes(t))
	same, err := e.contacts.Update(ctx, c.ID, contact.Patch{FirstName: ptr(" Helena ")})
	if err != nil || same.Version != 2 {
		t.Errorf("an unchanged patch: version %d, %v; want 2", same.Version, err)
	}
	if evs := e.audits(t, c.ID); len(evs) != n+1 || evs[n].Action != "contact.read" || len(e.changes(t)) != nc {
		t.Errorf("an unchanged patch wrote %q and %d changes; want one read and no change", actions(evs[n:]), len(e.changes(t))-nc)
	}
}

// TestUpdateRefuses: a stale version is a Conflict carrying the id (optimistic concurrency),
// a negative one or an invalid value Invalid naming the field, an address another contact holds
// duplicate_email (DESIGN §2), an unknown contact NotFound; a refused update changes nothing.
func TestUpdateRefuses(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	c, _ := e.contacts.Create(ctx, contact.Input{Email: "ola@example.se", FirstName: "Ola"})
	other, _ := e.contacts.Create(ctx, contact.Input{Email: "other@example.se"})
	if _, err := e.contacts.Update(ctx, c.ID, contact.Patch{Title: ptr("CEO"), Version: 1}); err != nil {
		t.Fatalf("update at the current version: %v", err)
	}
	for _, tc := range []struct {
		name          string
		id            string
		p             contact.Patch
		kind          apperr.Kind
		field, reason string
	}{
		{"stale version", c.ID, contact.Patch{Title: ptr("CTO"), Version: 1}, apperr.Conflict, "version", "stale_version"},
		{"negative version", c.ID, contact.Patch{Title: ptr("CTO"), Version: -1}, apperr.Invalid, "version", "invalid_version"},
		{"invalid birthday", c.ID, contact.Patch{Birthday: ptr("31.12.1990")}, apperr.Invalid, "birthday", "invalid_date"},
		{"no address and no phone left", c.ID, contact.Patch{Email: ptr("")}, apperr.Invalid, "email", "required"},
		{"another contact's address", c.ID, contact.Patch{Email: ptr("OTHER@example.se")}, apperr.Conflict, "email", "duplicate_email"},
		{"unknown contact", "00000000-0000-7000-8000-999999999999", contact.Patch{Title: ptr("CTO")}, apperr.NotFound, "", ""},
	} {
		_, err := e.contacts.Update(ctx, tc.id, tc.p)
		ae := apperr.As(err)
		if ae == nil || ae.Kind != tc.kind || ae.Field != tc.field || tc.reason != "" && ae.Reason != tc.reason {
			t.Errorf("%s: %v; want %s on %q (%s)", tc.name, err, tc.kind, tc.field, tc.reason)
		}
		if tc.reason == "stale_version" && ae.ID != c.ID || tc.reason == "duplicate_email" && ae.ID != other.ID {
			t.Errorf("%s: id %q; want the contact's", tc.name, ae.ID)
		}
	}
	if got, _ := e.contacts.Get(ctx, c.ID); got.Title != "CEO" || got.Version != 2 || got.Email != "ola@example.se" {
		t.Errorf("after the refused updates: %+v; want version 2 as it was", got)
	}
}

// TestRestrictedContactChangesOnlyByRequest: restriction (GDPR Art. 18) keeps the contact and
// stops staff edits and conversion; the person's rectification request (Art. 16) still applies
// and is audited as such with the changed field names. Restricting and lifting are audited and
// told to processors; setting the state it has changes nothing. A replayed restriction (the
// ledger after a restore) is applied once, at its own time.
func TestRestrictedContactChangesOnlyByRequest(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	c, _ := e.contacts.Create(ctx, contact.Input{Kind: contact.KindLead, Email: "rut@example.se", LastName: "Ek"})
	r, err := e.contacts.SetRestricted(ctx, c.ID, true)
	if err != nil || !r.Restricted || r.Version != 2 || r.Email != "rut@example.se" {
		t.Fatalf("SetRestricted(on) = %+v, %v; want restricted at version 2", r, err)
	}
	if again, err := e.contacts.SetRestricted(ctx, c.ID, true); err != nil || again.Version != 2 {
		t.Errorf("restricting again: version %d, %v; want no change", again.Version, err)
	}
	for name, err := range map[string]error{
		"Update": func() error { _, err := e.contacts.Update(ctx, c.ID, contact.Patch{LastName: ptr("Eke")}); return err }(),
		"UpdateByStaff": func() error {
			_, err := e.contacts.UpdateByStaff(staffAs("dpo"), c.ID, contact.Patch{LastName: ptr("Eke")}, true)
			return err
		}(),
		"Convert": func() error { _, err := e.contacts.Convert(ctx, c.ID); return err }(),
	} {
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Forbidden || ae.Reason != "restricted" {
			t.Errorf("%s of a restricted contact: %v; want Forbidden restricted", name, err)
		}
	}
	fixed, changed, err := e.contacts.Rectify(staffAs("dpo"), c.ID, contact.Patch{LastName: ptr("Eke")})
	if err != nil || fixed.LastName != "Eke" || !fixed.Restricted || !slices.Equal(changed, []string{"last_name"}) {
		t.Errorf("Rectify = %+v, %q, %v; want the correction applied, still restricted", fixed, changed, err)
	}
	if _, err := e.contacts.SetRestricted(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
	evs := actions(e.audits(t, c.ID))
	want := []string{"contact.create:email,last_name", "contact.restrict:restricted", "contact.read:email,last_name", "contact.read:email,last_name",
		"contact.rectify:last_name", "contact.restriction_lift:restricted", "contact.read:email,last_name"}
	if !slices.Equal(evs, want) {
		t.Errorf("audit:\n%q\nwant\n%q", evs, want)
	}
	if got, want := changeNames(e.changes(t)), []string{"1:restricted", "1:rectified", "1:restriction_lifted"}; !slices.Equal(got, want) {
		t.Errorf("changes = %q; want %q", got, want)
	}

	at := t0.Add(-24 * time.Hour)
	if ok, err := e.contacts.ReplayRestriction(ctx, c.ID, at); !ok || err != nil {
		t.Errorf("ReplayRestriction = %v, %v; want applied", ok, err)
	}
	if ok, err := e.contacts.ReplayRestriction(ctx, c.ID, at); ok || err != nil {
		t.Errorf("second ReplayRestriction = %v, %v; want nothing to do", ok, err)
	}
	cs := e.changes(t)
	if last := cs[len(cs)-1]; last.Change != "restricted" || !last.OccurredAt.Equal(at) || !last.RecordedAt.Equal(t0) {
		t.Errorf("replayed change = %+v; want restricted, occurred at %s, recorded at %s", last, at, t0)
	}
	if ok, err := e.contacts.ReplayRestriction(ctx, "00000000-0000-7000-8000-999999999999", at); ok || !apperr.Is(err, apperr.NotFound) {
		t.Errorf("ReplayRestriction of an unknown contact = %v, %v; want NotFound", ok, err)
	}
}

// TestConvertKeepsTheID: converting a lead keeps its id and data (DESIGN §2) and is audited;
// converting a contact is a Conflict not_a_lead carrying the id.
func TestConvertKeepsTheID(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	l, _ := e.contacts.Create(ctx, contact.Input{Kind: contact.KindLead, Email: "lead@example.se", Company: "Lead AB"})
	e.now = t0.Add(time.Minute)
	c, err := e.contacts.Convert(ctx, l.ID)
	if err != nil || c.ID != l.ID || c.Kind != contact.KindContact || c.Company != "Lead AB" || c.Version != 2 || !c.UpdatedAt.Equal(e.now) {
		t.Fatalf("Convert = %+v, %v; want the same person as a contact at version 2", c, err)
	}
	evs := actions(e.audits(t, l.ID))
	if want := []string{"contact.convert:kind", "contact.read:email,company"}; !slices.Equal(evs[1:], want) {
		t.Errorf("audit = %q; want %q after the create", evs, want)
	}
	_, err = e.contacts.Convert(ctx, l.ID)
	if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Conflict || ae.Reason != "not_a_lead" || ae.ID != l.ID {
		t.Errorf("second Convert: %v; want Conflict not_a_lead", err)
	}
	if _, err := e.contacts.Convert(ctx, "00000000-0000-7000-8000-999999999999"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Convert of an unknown id: %v; want NotFound", err)
	}
}

// TestAddressChangeHooks: a staff update that replaces the address tells the person at the old
// one (AddressChanged), a rectification they asked for does not; any new address has its
// double opt-in consent confirmed again there (EmailChanged; GDPR Art. 7(1)); the old address is
// remembered by its suppression hash so that erasure suppresses it too (Art. 17).
func TestAddressChangeHooks(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	var told, reconfirm []string
	e.contacts.AddressChanged = func(_ context.Context, _ contact.Tx, id, old string) error {
		told = append(told, old)
		return nil
	}
	e.contacts.EmailChanged = func(_ context.Context, _ contact.Tx, id, next string) error {
		reconfirm = append(reconfirm, next)
		return nil
	}
	c, _ := e.contacts.Create(ctx, contact.Input{Email: "one@example.se", Phone: "+46701234567"})
	if _, err := e.contacts.Update(ctx, c.ID, contact.Patch{Email: ptr("Two@example.se")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.contacts.Rectify(ctx, c.ID, contact.Patch{Email: ptr("three@example.se")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.contacts.Update(ctx, c.ID, contact.Patch{FirstName: ptr("Tre")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.contacts.Update(ctx, c.ID, contact.Patch{Email: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"one@example.se", "three@example.se"}; !slices.Equal(told, want) {
		t.Errorf("AddressChanged told %q; want %q (staff updates only)", told, want)
	}
	if want := []string{"two@example.se", "three@example.se"}; !slices.Equal(reconfirm, want) {
		t.Errorf("EmailChanged with %q; want %q (every new address)", reconfirm, want)
	}
	var former [][]byte
	e.view(t, func(tx store.Tx) error {
		var err error
		former, err = tx.FormerEmails(context.Background(), c.ID)
		return err
	})
	for _, a := range []string{"one@example.se", "two@example.se", "three@example.se"} {
		_, h, _ := e.contacts.EmailHashes(a)
		if !slices.ContainsFunc(former, func(g []byte) bool { return bytes.Equal(g, h[0]) }) {
			t.Errorf("former addresses lack %s", a)
		}
	}
	if rec := e.record(t, c.ID); rec.EmailIndex != nil || rec.SuppressionHash != nil {
		t.Errorf("after clearing the address the record keeps indexes %x %x", rec.EmailIndex, rec.SuppressionHash)
	}
}

// TestUpdateByStaffRefusesAnErasedAddress: giving a contact an address erased at its person's
// request is a Conflict erased for staff (GDPR Art. 17) unless they say the person asked again.
func TestUpdateByStaffRefusesAnErasedAddress(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	gone, _ := e.contacts.Create(ctx, contact.Input{Email: "gone@example.se"})
	if err := e.contacts.Erase(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	c, _ := e.contacts.Create(ctx, contact.Input{Email: "here@example.se"})
	_, err := e.contacts.UpdateByStaff(ctx, c.ID, contact.Patch{Email: ptr("gone@example.se")}, false)
	if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Conflict || ae.Reason != "erased" {
		t.Fatalf("UpdateByStaff to an erased address: %v; want Conflict erased", err)
	}
	if _, err := e.contacts.UpdateByStaff(ctx, c.ID, contact.Patch{Title: ptr("CTO")}, false); err != nil {
		t.Errorf("UpdateByStaff of another field: %v", err)
	}
	got, err := e.contacts.UpdateByStaff(staffAs("dpo"), c.ID, contact.Patch{Email: ptr("gone@example.se")}, true)
	if err != nil || got.Email != "gone@example.se" {
		t.Errorf("UpdateByStaff with recreate_erased = %+v, %v", got, err)
	}
}
