package storetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

// Fixed instants with nanoseconds, given in a non-UTC zone so that the UTC conversion is tested.
var (
	zone = time.FixedZone("CEST", 2*60*60)
	t0   = time.Date(2025, 3, 14, 17, 9, 26, 535897932, zone)
	t1   = time.Date(2025, 6, 1, 0, 0, 0, 1, zone)
	t2   = time.Date(2026, 1, 31, 23, 59, 59, 999999999, time.UTC)
)

// fullRecord returns a record with every field set, every sealed column distinct.
func fullRecord(id string) *contact.Record {
	r := &contact.Record{
		ID:              id,
		Kind:            contact.Kind("lead"),
		KeyVersion:      3,
		EmailIndex:      []byte("bidx-email-" + id + "\x00\xff"),
		PhoneIndex:      []byte("bidx-phone-" + id + "\x00\xfe"),
		SuppressionHash: []byte("sup-" + id + "\x00\xfd"),
		Sealed:          map[string][]byte{},
		Source:          "import:hubspot",
		Restricted:      true,
		CreatedAt:       t0,
		UpdatedAt:       t1,
		Version:         7,
	}
	for i, col := range contact.Columns {
		r.Sealed[col] = []byte{0x00, byte(i), 0xff, 'c', 't', ':'}
		r.Sealed[col] = append(r.Sealed[col], col+":"+id...)
	}
	return r
}

// minimalRecord returns a record with only an e-mail index (when email is non-nil) and one sealed
// column.
func minimalRecord(id string, kind contact.Kind, email, phone []byte) *contact.Record {
	return &contact.Record{
		ID: id, Kind: kind, KeyVersion: 1, EmailIndex: email, PhoneIndex: phone,
		Sealed:    map[string][]byte{"notes": []byte("sealed-notes-" + id)},
		CreatedAt: t2, UpdatedAt: t2, Version: 1,
	}
}

// checkTime fails unless got is the same instant as want and in UTC.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %s (%s), want %s in UTC", what, got.Format(time.RFC3339Nano), got.Location(), want.UTC().Format(time.RFC3339Nano))
	}
}

// checkRecord compares every field of a stored record with what was written. Empty sealed values
// are absent from a stored record's Sealed map.
func checkRecord(t *testing.T, got, want *contact.Record) {
	t.Helper()
	if got == nil {
		t.Errorf("record %s: got nil", want.ID)
		return
	}
	if got.ID != want.ID || got.Kind != want.Kind || got.KeyVersion != want.KeyVersion ||
		got.Source != want.Source || got.Restricted != want.Restricted || got.Version != want.Version {
		t.Errorf("record %s: got {ID %q Kind %q KeyVersion %d Source %q Restricted %v Version %d}, want {ID %q Kind %q KeyVersion %d Source %q Restricted %v Version %d}",
			want.ID, got.ID, got.Kind, got.KeyVersion, got.Source, got.Restricted, got.Version,
			want.ID, want.Kind, want.KeyVersion, want.Source, want.Restricted, want.Version)
	}
	if !bytes.Equal(got.EmailIndex, want.EmailIndex) {
		t.Errorf("record %s: EmailIndex = %x, want %x", want.ID, got.EmailIndex, want.EmailIndex)
	}
	if !bytes.Equal(got.SuppressionHash, want.SuppressionHash) {
		t.Errorf("record %s: SuppressionHash = %x, want %x", want.ID, got.SuppressionHash, want.SuppressionHash)
	}
	if !bytes.Equal(got.PhoneIndex, want.PhoneIndex) {
		t.Errorf("record %s: PhoneIndex = %x, want %x", want.ID, got.PhoneIndex, want.PhoneIndex)
	}
	wantSealed := map[string][]byte{}
	for col, v := range want.Sealed {
		if len(v) > 0 {
			wantSealed[col] = v
		}
	}
	if gk, wk := slices.Sorted(maps.Keys(got.Sealed)), slices.Sorted(maps.Keys(wantSealed)); !slices.Equal(gk, wk) {
		t.Errorf("record %s: Sealed columns = %v, want %v", want.ID, gk, wk)
	}
	for col, v := range wantSealed {
		if !bytes.Equal(got.Sealed[col], v) {
			t.Errorf("record %s: Sealed[%q] = %x, want %x", want.ID, col, got.Sealed[col], v)
		}
	}
	checkTime(t, "record "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "record "+want.ID+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func ids(recs []*contact.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func insertContacts(ctx context.Context, tx Tx, recs ...*contact.Record) error {
	for _, r := range recs {
		if err := tx.InsertContact(ctx, r); err != nil {
			return fmt.Errorf("insert %s: %w", r.ID, err)
		}
	}
	return nil
}

func auditEvent(action, objectID string) *audit.Event {
	return &audit.Event{
		At:     t0,
		Actor:  audit.Actor{Kind: audit.ActorToken, ID: "tok-1", Role: "admin"},
		Action: action, ObjectKind: "contact", ObjectID: objectID,
		Fields: []string{"email", "first_name"}, RequestID: "req-" + objectID, Purpose: "newsletter",
	}
}

func purpose(id string) consent.Purpose {
	return consent.Purpose{
		ID: id, Name: "Name of " + id, Description: "Notice text of " + id, LawfulBasis: consent.BasisConsent,
		RetentionDays: 730, DoubleOptIn: true, CreatedAt: t0,
	}
}

func consentEvent(id, contactID, purposeID string, state consent.State, occurred time.Time) *consent.Event {
	return &consent.Event{
		ID: id, ContactID: contactID, Purpose: purposeID, State: state, Method: consent.MethodDoubleOptIn,
		PolicyVersions: map[string]string{"privacy_policy": "3", "terms_of_service": "1"},
		NoticeHash:     "4f2a", OccurredAt: occurred, RecordedAt: t1, Actor: "token:tok-1",
	}
}

func current(contactID, purposeID string, state consent.State, eventID string) consent.Current {
	return consent.Current{
		ContactID: contactID, Purpose: purposeID, State: state, LawfulBasis: consent.BasisConsent,
		Method: consent.MethodWebForm, OccurredAt: t0, PolicyVersions: map[string]string{"privacy_policy": "3"}, EventID: eventID,
	}
}

func checkPurpose(t *testing.T, got, want consent.Purpose) {
	t.Helper()
	gotT, wantT := got.CreatedAt, want.CreatedAt
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("purpose = %+v, want %+v", got, want)
	}
	checkTime(t, "purpose "+want.ID+" CreatedAt", gotT, wantT)
}

func checkEvent(t *testing.T, got, want consent.Event) {
	t.Helper()
	gotO, gotR, wantO, wantR := got.OccurredAt, got.RecordedAt, want.OccurredAt, want.RecordedAt
	got.OccurredAt, got.RecordedAt, want.OccurredAt, want.RecordedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("consent event = %+v, want %+v", got, want)
	}
	checkTime(t, "event "+want.ID+" OccurredAt", gotO, wantO)
	checkTime(t, "event "+want.ID+" RecordedAt", gotR, wantR)
}

func checkCurrent(t *testing.T, got, want consent.Current) {
	t.Helper()
	gotO, wantO := got.OccurredAt, want.OccurredAt
	got.OccurredAt, want.OccurredAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("current consent = %+v, want %+v", got, want)
	}
	checkTime(t, "current "+want.ContactID+"/"+want.Purpose+" OccurredAt", gotO, wantO)
}
