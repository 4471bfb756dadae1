package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/token"
)

// Tx is what the suite drives inside one read-write transaction: every domain Tx interface plus
// savepoints (a failing fn undoes only its own writes and audit events).
type Tx interface {
	contact.Tx
	consent.Tx
	token.Tx
	importer.Tx
	consent.PolicyTx
	ledger.Tx
	governance.RetentionTx
	dsr.Tx
	// ConsentChanges reads the change stream (the webhook delivery of a later issue consumes it).
	ConsentChanges(ctx context.Context, afterSeq int64, limit int) ([]consent.Change, error)
}

// Opener opens a fresh, empty store for one subtest and registers its closing with t.Cleanup.
type Opener func(t *testing.T) Harness

// Harness is what the suite drives: one read-write transaction at a time, plus verification of the
// audit chain and a checkpoint.
type Harness struct {
	// Update runs fn in one read-write transaction: commit when fn returns nil, roll back (and
	// return fn's error unchanged) otherwise.
	Update func(ctx context.Context, fn func(Tx) error) error
	// VerifyAudit walks the stored audit chain.
	VerifyAudit func(ctx context.Context) (audit.Verification, error)
	// Checkpoint moves committed pages into the main files (a no-op where there is nothing to do).
	Checkpoint func(ctx context.Context) error
}

// guard bounds every store call so that a deadlocked store fails instead of hanging the binary.
// It is far above any honest duration and asserts no speed.
const guard = 20 * time.Second

// Run runs the contract suite against the store that open returns. Subtests run in parallel,
// each on its own fresh store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"ContactRoundTrip", testContactRoundTrip},
		{"ContactSparseRoundTrip", testContactSparseRoundTrip},
		{"ContactUpdate", testContactUpdate},
		{"DuplicateEmailOnInsert", testDuplicateEmailOnInsert},
		{"DuplicateEmailOnUpdate", testDuplicateEmailOnUpdate},
		{"NotFound", testNotFound},
		{"ListContacts", testListContacts},
		{"ContactsByPhoneIndex", testContactsByPhoneIndex},
		{"DeleteContactCascades", testDeleteContactCascades},
		{"DataKey", testDataKey},
		{"Rollback", testRollback},
		{"UpdatePanic", testUpdatePanic},
		{"AuditChain", testAuditChain},
		{"AuditEmpty", testAuditEmpty},
		{"Purposes", testPurposes},
		{"ConsentEvents", testConsentEvents},
		{"CurrentConsent", testCurrentConsent},
		{"Suppression", testSuppression},
		{"PurposeUnsubscribes", testPurposeUnsubscribes},
		{"Tokens", testTokens},
		{"Checkpoint", testCheckpoint},
		{"FormerEmails", testFormerEmails},
		{"GateFacts", testGateFacts},
		{"ObjectionsAndChanges", testObjectionsAndChanges},
		{"PolicyVersions", testPolicyVersions},
		{"ApprovalAndRepermission", testApprovalAndRepermission},
		{"BulkEqualsSingle", testBulkEqualsSingle},
		{"BulkDuplicateRollsBack", testBulkDuplicateRollsBack},
		{"ImportErrors", testImportErrors},
		{"Ledger", testLedger},
		{"LedgerListUnsubscribes", testLedgerListUnsubscribes},
		{"GateFactsRequests", testGateFactsRequests},
		{"RetentionCandidates", testRetentionCandidates},
		{"RetentionPolicies", testRetentionPolicies},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), guard)
			t.Cleanup(cancel)
			tc.fn(t, &suite{h: open(t), ctx: ctx})
		})
	}
}

type suite struct {
	h   Harness
	ctx context.Context
}

// update runs fn in one transaction and fails the test on error.
func (s *suite) update(t *testing.T, fn func(Tx) error) {
	t.Helper()
	if err := s.h.Update(s.ctx, fn); err != nil {
		t.Fatalf("Update: %v%s", err, hint(err))
	}
}

// verify returns the audit verification and fails the test on error.
func (s *suite) verify(t *testing.T) audit.Verification {
	t.Helper()
	v, err := s.h.VerifyAudit(s.ctx)
	if err != nil {
		t.Fatalf("VerifyAudit: %v%s", err, hint(err))
	}
	return v
}

func hint(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf(" (the store did not return within %s: deadlock?)", guard)
	}
	return ""
}

// wantKind reports an error unless err carries an *apperr.Error of kind k, and returns that
// *apperr.Error (nil when it does not). It never stops the test, so it is safe inside Update: a
// t.FailNow there would leave the transaction open.
func wantKind(t *testing.T, what string, err error, k apperr.Kind) *apperr.Error {
	t.Helper()
	if err == nil {
		t.Errorf("%s: err = nil, want %s", what, k)
		return nil
	}
	e := apperr.As(err)
	if e == nil || e.Kind != k {
		t.Errorf("%s: err = %v (kind %s), want kind %s%s", what, err, apperr.KindOf(err), k, hint(err))
		return nil
	}
	return e
}

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

func testContactRoundTrip(t *testing.T, s *suite) {
	want := fullRecord("c-full")
	s.update(t, func(tx Tx) error { return tx.InsertContact(s.ctx, fullRecord("c-full")) })
	s.update(t, func(tx Tx) error {
		got, err := tx.ContactByID(s.ctx, want.ID)
		if err != nil {
			return fmt.Errorf("ContactByID: %w", err)
		}
		checkRecord(t, got, want)
		got, err = tx.ContactByEmailIndex(s.ctx, want.EmailIndex)
		if err != nil {
			return fmt.Errorf("ContactByEmailIndex: %w", err)
		}
		checkRecord(t, got, want)
		return nil
	})
}

func testContactSparseRoundTrip(t *testing.T, s *suite) {
	// No indexes, one present column, one explicitly empty column, not restricted, kind contact.
	want := minimalRecord("c-sparse", contact.Kind("contact"), nil, nil)
	want.Sealed["company"] = []byte{}
	s.update(t, func(tx Tx) error { return tx.InsertContact(s.ctx, want) })
	s.update(t, func(tx Tx) error {
		got, err := tx.ContactByID(s.ctx, want.ID)
		if err != nil {
			return err
		}
		checkRecord(t, got, want)
		if got.EmailIndex != nil || got.PhoneIndex != nil {
			t.Errorf("indexes = %x, %x; want nil, nil", got.EmailIndex, got.PhoneIndex)
		}
		return nil
	})
}

func testContactUpdate(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error { return tx.InsertContact(s.ctx, fullRecord("c-upd")) })
	want := minimalRecord("c-upd", contact.Kind("contact"), []byte("new-email-idx"), nil)
	want.KeyVersion = 4
	want.Sealed["title"] = []byte("sealed-title")
	want.Source = "api"
	want.CreatedAt = t0 // creation time does not change
	want.UpdatedAt = t2
	want.Version = 8
	s.update(t, func(tx Tx) error { return tx.UpdateContact(s.ctx, want) })
	s.update(t, func(tx Tx) error {
		got, err := tx.ContactByID(s.ctx, "c-upd")
		if err != nil {
			return err
		}
		checkRecord(t, got, want)
		if _, err := tx.ContactByEmailIndex(s.ctx, fullRecord("c-upd").EmailIndex); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("old e-mail index after update: err = %v, want NotFound", err)
		}
		return nil
	})
	err := s.h.Update(s.ctx, func(tx Tx) error { return tx.UpdateContact(s.ctx, minimalRecord("c-missing", "lead", nil, nil)) })
	wantKind(t, "UpdateContact(missing)", err, apperr.NotFound)
}

func testDuplicateEmailOnInsert(t *testing.T, s *suite) {
	idx := []byte("shared-email-idx")
	s.update(t, func(tx Tx) error { return tx.InsertContact(s.ctx, minimalRecord("c-first", "contact", idx, nil)) })
	err := s.h.Update(s.ctx, func(tx Tx) error { return tx.InsertContact(s.ctx, minimalRecord("c-second", "lead", idx, nil)) })
	if e := wantKind(t, "InsertContact(duplicate e-mail)", err, apperr.Conflict); e != nil && e.ID != "c-first" {
		t.Errorf("Conflict ID = %q, want %q", e.ID, "c-first")
	}
	s.update(t, func(tx Tx) error {
		if _, err := tx.ContactByID(s.ctx, "c-second"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("ContactByID(c-second) err = %v, want NotFound", err)
		}
		got, err := tx.ContactByEmailIndex(s.ctx, idx)
		if err != nil {
			return err
		}
		checkRecord(t, got, minimalRecord("c-first", "contact", idx, nil))
		return nil
	})
}

func testDuplicateEmailOnUpdate(t *testing.T, s *suite) {
	taken, own := []byte("taken-idx"), []byte("own-idx")
	s.update(t, func(tx Tx) error {
		return insertContacts(s.ctx, tx, minimalRecord("c-a", "contact", taken, nil), minimalRecord("c-b", "contact", own, nil))
	})
	err := s.h.Update(s.ctx, func(tx Tx) error {
		r := minimalRecord("c-b", "contact", taken, nil)
		r.Version = 2
		return tx.UpdateContact(s.ctx, r)
	})
	if e := wantKind(t, "UpdateContact(duplicate e-mail)", err, apperr.Conflict); e != nil && e.ID != "c-a" {
		t.Errorf("Conflict ID = %q, want %q", e.ID, "c-a")
	}
	s.update(t, func(tx Tx) error {
		got, err := tx.ContactByID(s.ctx, "c-b")
		if err != nil {
			return err
		}
		checkRecord(t, got, minimalRecord("c-b", "contact", own, nil))
		return nil
	})
}

func testNotFound(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		// A contact, purpose and suppression exist, so "missing" is about the key, not an empty table.
		if err := tx.InsertContact(s.ctx, fullRecord("c-present")); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, consent.Purpose{ID: "newsletter", Name: "N", Description: "D", LawfulBasis: consent.BasisConsent, CreatedAt: t0}); err != nil {
			return err
		}
		return tx.AddSuppression(s.ctx, consent.Suppression{Hash: []byte("present-hash"), Reason: "bounced", CreatedAt: t0})
	})
	cases := []struct {
		name string
		call func(tx Tx) (zero bool, err error)
	}{
		{"ContactByID", func(tx Tx) (bool, error) { r, err := tx.ContactByID(s.ctx, "c-missing"); return r == nil, err }},
		{"ContactByEmailIndex", func(tx Tx) (bool, error) {
			r, err := tx.ContactByEmailIndex(s.ctx, []byte("missing-idx"))
			return r == nil, err
		}},
		{"DataKey", func(tx Tx) (bool, error) { v, w, err := tx.DataKey(s.ctx, "c-present"); return v == 0 && w == nil, err }},
		{"PurposeByID", func(tx Tx) (bool, error) {
			p, err := tx.PurposeByID(s.ctx, "missing")
			return reflect.DeepEqual(p, consent.Purpose{}), err
		}},
		{"CurrentConsent", func(tx Tx) (bool, error) {
			c, err := tx.CurrentConsent(s.ctx, "c-present", "newsletter")
			return reflect.DeepEqual(c, consent.Current{}), err
		}},
		{"SuppressionReason", func(tx Tx) (bool, error) {
			r, err := tx.SuppressionReason(s.ctx, []byte("missing-hash"))
			return r == "", err
		}},
		{"TokenByHash", func(tx Tx) (bool, error) {
			tok, err := tx.TokenByHash(s.ctx, []byte("missing-hash"))
			return reflect.DeepEqual(tok, token.Token{}), err
		}},
		{"DeleteContact", func(tx Tx) (bool, error) { return true, tx.DeleteContact(s.ctx, "c-missing") }},
	}
	for _, c := range cases {
		var zero bool
		err := s.h.Update(s.ctx, func(tx Tx) error {
			var err error
			zero, err = c.call(tx)
			return err
		})
		wantKind(t, c.name+" on a missing key", err, apperr.NotFound)
		if !zero {
			t.Errorf("%s on a missing key returned a non-zero value with its error", c.name)
		}
	}
}

func testListContacts(t *testing.T, s *suite) {
	kinds := map[string]contact.Kind{"c01": "lead", "c02": "contact", "c03": "lead", "c04": "lead", "c05": "contact", "c06": "contact", "c07": "lead"}
	s.update(t, func(tx Tx) error {
		// Inserted out of id order: the listing orders by id, not by insertion.
		for _, id := range []string{"c05", "c01", "c07", "c03", "c02", "c06", "c04"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, kinds[id], []byte("e-"+id), nil)); err != nil {
				return err
			}
		}
		return nil
	})
	cases := []struct {
		kind  contact.Kind
		after string
		limit int
		want  []string
	}{
		{"", "", 3, []string{"c01", "c02", "c03"}},
		{"", "c03", 3, []string{"c04", "c05", "c06"}},
		{"", "c06", 3, []string{"c07"}},
		{"", "c07", 3, nil},
		{"", "c025", 2, []string{"c03", "c04"}}, // a cursor need not be an existing id
		{"", "", 100, []string{"c01", "c02", "c03", "c04", "c05", "c06", "c07"}},
		{"lead", "", 2, []string{"c01", "c03"}},
		{"lead", "c03", 2, []string{"c04", "c07"}},
		{"lead", "c07", 2, nil},
		{"contact", "", 10, []string{"c02", "c05", "c06"}},
		{"contact", "c02", 1, []string{"c05"}},
	}
	s.update(t, func(tx Tx) error {
		for _, c := range cases {
			got, err := tx.ListContacts(s.ctx, c.kind, c.after, c.limit)
			if err != nil {
				return fmt.Errorf("ListContacts(%q, %q, %d): %w", c.kind, c.after, c.limit, err)
			}
			if !slices.Equal(ids(got), c.want) {
				t.Errorf("ListContacts(%q, %q, %d) = %v, want %v", c.kind, c.after, c.limit, ids(got), c.want)
			}
			for _, r := range got {
				checkRecord(t, r, minimalRecord(r.ID, kinds[r.ID], []byte("e-"+r.ID), nil))
			}
		}
		return nil
	})
}

func testContactsByPhoneIndex(t *testing.T, s *suite) {
	shared, other := []byte("phone-shared"), []byte("phone-other")
	s.update(t, func(tx Tx) error {
		return insertContacts(s.ctx, tx,
			minimalRecord("p3", "contact", []byte("e3"), shared),
			minimalRecord("p1", "lead", nil, shared),
			minimalRecord("p4", "contact", []byte("e4"), other),
			minimalRecord("p2", "contact", []byte("e2"), shared))
	})
	cases := []struct {
		idx   []byte
		limit int
		want  []string
	}{
		{shared, 10, []string{"p1", "p2", "p3"}},
		{shared, 2, []string{"p1", "p2"}},
		{other, 10, []string{"p4"}},
		{[]byte("phone-unknown"), 10, nil},
	}
	s.update(t, func(tx Tx) error {
		for _, c := range cases {
			got, err := tx.ContactsByPhoneIndex(s.ctx, c.idx, c.limit)
			if err != nil {
				return err
			}
			if !slices.Equal(ids(got), c.want) {
				t.Errorf("ContactsByPhoneIndex(%s, %d) = %v, want %v", c.idx, c.limit, ids(got), c.want)
			}
		}
		got, err := tx.ContactsByPhoneIndex(s.ctx, shared, 1)
		if err != nil {
			return err
		}
		if len(got) == 1 {
			checkRecord(t, got[0], minimalRecord("p1", "lead", nil, shared))
		}
		return nil
	})
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

func testDeleteContactCascades(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, fullRecord("c-gone"), fullRecord("c-kept")); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, cid := range []string{"c-gone", "c-kept"} {
			if err := tx.InsertConsentEvent(s.ctx, consentEvent("ev1-"+cid, cid, "newsletter", consent.Requested, t0), []byte("evidence")); err != nil {
				return err
			}
			if err := tx.InsertConsentEvent(s.ctx, consentEvent("ev2-"+cid, cid, "newsletter", consent.Given, t1), nil); err != nil {
				return err
			}
			if err := tx.PutCurrentConsent(s.ctx, current(cid, "newsletter", consent.Given, "ev2-"+cid)); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error { return tx.DeleteContact(s.ctx, "c-gone") })
	s.update(t, func(tx Tx) error {
		if _, err := tx.ContactByID(s.ctx, "c-gone"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("ContactByID after delete: err = %v, want NotFound", err)
		}
		if _, err := tx.ContactByEmailIndex(s.ctx, fullRecord("c-gone").EmailIndex); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("ContactByEmailIndex after delete: err = %v, want NotFound", err)
		}
		evs, sealed, err := tx.ConsentEvents(s.ctx, "c-gone")
		if err != nil || len(evs) != 0 || len(sealed) != 0 {
			t.Errorf("ConsentEvents after delete = %d events, %d evidence, %v; want none", len(evs), len(sealed), err)
		}
		cur, err := tx.CurrentConsents(s.ctx, "c-gone")
		if err != nil || len(cur) != 0 {
			t.Errorf("CurrentConsents after delete = %d, %v; want none", len(cur), err)
		}
		if _, err := tx.CurrentConsent(s.ctx, "c-gone", "newsletter"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("CurrentConsent after delete: err = %v, want NotFound", err)
		}
		// The other contact keeps everything.
		got, err := tx.ContactByID(s.ctx, "c-kept")
		if err != nil {
			return err
		}
		checkRecord(t, got, fullRecord("c-kept"))
		evs, _, err = tx.ConsentEvents(s.ctx, "c-kept")
		if err != nil {
			return err
		}
		if len(evs) != 2 {
			t.Errorf("ConsentEvents(c-kept) = %d events, want 2", len(evs))
		}
		cur, err = tx.CurrentConsents(s.ctx, "c-kept")
		if err != nil {
			return err
		}
		if len(cur) != 1 {
			t.Errorf("CurrentConsents(c-kept) = %d, want 1", len(cur))
		}
		// An erased contact's e-mail index is free again.
		return tx.InsertContact(s.ctx, minimalRecord("c-new", "lead", fullRecord("c-gone").EmailIndex, nil))
	})
}

func testDataKey(t *testing.T, s *suite) {
	wrappedA, wrappedB := []byte("wrapped-key-a\x00\xff"), []byte("wrapped-key-b")
	s.update(t, func(tx Tx) error {
		if err := tx.InsertDataKey(s.ctx, "c-a", 2, wrappedA, t0); err != nil {
			return err
		}
		return tx.InsertDataKey(s.ctx, "c-b", 1, wrappedB, t1)
	})
	s.update(t, func(tx Tx) error {
		v, w, err := tx.DataKey(s.ctx, "c-a")
		if err != nil {
			return err
		}
		if v != 2 || !bytes.Equal(w, wrappedA) {
			t.Errorf("DataKey(c-a) = %d, %x; want 2, %x", v, w, wrappedA)
		}
		return tx.DeleteDataKey(s.ctx, "c-a")
	})
	s.update(t, func(tx Tx) error {
		_, _, err := tx.DataKey(s.ctx, "c-a")
		wantKind(t, "DataKey after DeleteDataKey", err, apperr.NotFound)
		v, w, err := tx.DataKey(s.ctx, "c-b")
		if err != nil {
			return err
		}
		if v != 1 || !bytes.Equal(w, wrappedB) {
			t.Errorf("DataKey(c-b) = %d, %x; want 1, %x", v, w, wrappedB)
		}
		return nil
	})
}

func testRollback(t *testing.T, s *suite) {
	var committed []*audit.Event
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"c-1", "c-2"} {
			e := auditEvent("contact.create", id)
			if err := tx.AppendAudit(s.ctx, e); err != nil {
				return err
			}
			committed = append(committed, e)
		}
		return nil
	})
	boom := errors.New("boom")
	var rolledBackSeq int64
	err := s.h.Update(s.ctx, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, fullRecord("c-rb")); err != nil {
			return err
		}
		if err := tx.InsertDataKey(s.ctx, "c-rb", 1, []byte("wrapped"), t0); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, purpose("rb-purpose")); err != nil {
			return err
		}
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: []byte("rb-hash"), Reason: "erased", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.InsertToken(s.ctx, token.Token{ID: "tok-rb", Name: "rb", Role: token.RoleAgent, CreatedAt: t0}, []byte("rb-token-hash")); err != nil {
			return err
		}
		e := auditEvent("contact.create", "c-rb")
		if err := tx.AppendAudit(s.ctx, e); err != nil {
			return err
		}
		rolledBackSeq = e.Seq
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error %v", err, boom)
	}
	if rolledBackSeq != 3 {
		t.Errorf("rolled-back audit event had Seq %d, want 3", rolledBackSeq)
	}
	if v := s.verify(t); v != (audit.Verification{OK: true, Checked: 2, HeadSeq: 2}) {
		t.Errorf("VerifyAudit after rollback = %+v, want OK, Checked 2, HeadSeq 2", v)
	}
	s.update(t, func(tx Tx) error {
		if _, err := tx.ContactByID(s.ctx, "c-rb"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("ContactByID after rollback: err = %v, want NotFound", err)
		}
		if _, _, err := tx.DataKey(s.ctx, "c-rb"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("DataKey after rollback: err = %v, want NotFound", err)
		}
		if _, err := tx.PurposeByID(s.ctx, "rb-purpose"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("PurposeByID after rollback: err = %v, want NotFound", err)
		}
		if _, err := tx.SuppressionReason(s.ctx, []byte("rb-hash")); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("SuppressionReason after rollback: err = %v, want NotFound", err)
		}
		if _, err := tx.TokenByHash(s.ctx, []byte("rb-token-hash")); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("TokenByHash after rollback: err = %v, want NotFound", err)
		}
		e := auditEvent("contact.read", "c-1")
		if err := tx.AppendAudit(s.ctx, e); err != nil {
			return err
		}
		if e.Seq != 3 || !bytes.Equal(e.PrevHash, committed[1].Hash) {
			t.Errorf("next event after rollback: Seq %d PrevHash %x; want Seq 3 PrevHash %x (the committed head)", e.Seq, e.PrevHash, committed[1].Hash)
		}
		return nil
	})
	if v := s.verify(t); v != (audit.Verification{OK: true, Checked: 3, HeadSeq: 3}) {
		t.Errorf("VerifyAudit = %+v, want OK, Checked 3, HeadSeq 3", v)
	}
}

func testUpdatePanic(t *testing.T, s *suite) {
	// The panicking transaction's context lives until the test ends, as a CLI command's or a job's
	// does: the store must not rely on that context ending to release the transaction.
	pctx, cancel := context.WithCancel(context.WithoutCancel(s.ctx))
	t.Cleanup(cancel) // runs before the store is closed
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		_ = s.h.Update(pctx, func(tx Tx) error {
			if err := tx.InsertContact(pctx, fullRecord("c-panic")); err != nil {
				return err
			}
			if err := tx.AppendAudit(pctx, auditEvent("contact.create", "c-panic")); err != nil {
				return err
			}
			panic("fn panicked")
		})
	}()
	if recovered != "fn panicked" {
		t.Errorf("Update with a panicking fn: recovered %v, want the panic to propagate", recovered)
	}
	// The store keeps working, and nothing of the panicking transaction was committed.
	s.update(t, func(tx Tx) error {
		if _, err := tx.ContactByID(s.ctx, "c-panic"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("ContactByID after a panicking Update: err = %v, want NotFound", err)
		}
		e := auditEvent("contact.read", "c-other")
		if err := tx.AppendAudit(s.ctx, e); err != nil {
			return err
		}
		if e.Seq != 1 {
			t.Errorf("first event after a panicking Update: Seq %d, want 1", e.Seq)
		}
		return nil
	})
	if v := s.verify(t); v != (audit.Verification{OK: true, Checked: 1, HeadSeq: 1}) {
		t.Errorf("VerifyAudit = %+v, want OK, Checked 1, HeadSeq 1", v)
	}
}

func testAuditChain(t *testing.T, s *suite) {
	events := []*audit.Event{
		auditEvent("contact.create", "c-1"),
		{At: t1, Actor: audit.Actor{Kind: audit.ActorSystem, ID: "tillit"}, Action: "retention.sweep", ObjectKind: "purpose", ObjectID: "newsletter"},
		{At: t2, Actor: audit.Actor{Kind: audit.ActorCLI, ID: "import"}, Action: "contact.update", ObjectKind: "contact", ObjectID: "c-1",
			Fields: []string{"notes"}, RequestID: "req-9"},
	}
	// Two in one transaction, one in the next: numbering continues across transactions.
	s.update(t, func(tx Tx) error {
		for _, e := range events[:2] {
			if err := tx.AppendAudit(s.ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error { return tx.AppendAudit(s.ctx, events[2]) })
	prev := audit.Genesis()
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Errorf("event %d: Seq = %d, want %d", i, e.Seq, i+1)
		}
		if !bytes.Equal(e.PrevHash, prev) {
			t.Errorf("event %d: PrevHash = %x, want %x", e.Seq, e.PrevHash, prev)
		}
		if want := e.ComputeHash(prev); !bytes.Equal(e.Hash, want) || len(e.Hash) != audit.HashSize {
			t.Errorf("event %d: Hash = %x, want %x", e.Seq, e.Hash, want)
		}
		if e.At.Location() != time.UTC {
			t.Errorf("event %d: At in %s, want UTC", e.Seq, e.At.Location())
		}
		prev = e.Hash
	}
	if v := s.verify(t); v != (audit.Verification{OK: true, Checked: 3, HeadSeq: 3}) {
		t.Errorf("VerifyAudit = %+v, want OK, Checked 3, HeadSeq 3", v)
	}
}

func testAuditEmpty(t *testing.T, s *suite) {
	if v := s.verify(t); v != (audit.Verification{OK: true}) {
		t.Errorf("VerifyAudit on an empty log = %+v, want OK, Checked 0, HeadSeq 0", v)
	}
	s.update(t, func(tx Tx) error {
		e := auditEvent("token.create", "tok-1")
		if err := tx.AppendAudit(s.ctx, e); err != nil {
			return err
		}
		if e.Seq != 1 || !bytes.Equal(e.PrevHash, audit.Genesis()) {
			t.Errorf("first event: Seq %d PrevHash %x, want 1 and the genesis hash", e.Seq, e.PrevHash)
		}
		return nil
	})
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

func testPurposes(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		got, err := tx.ListPurposes(s.ctx)
		if err != nil || len(got) != 0 {
			t.Errorf("ListPurposes on an empty store = %v, %v; want none", got, err)
		}
		return nil
	})
	news := purpose("newsletter")
	sales := consent.Purpose{ID: "analytics", Name: "Analytics", Description: "", LawfulBasis: consent.BasisLegitimateInterest,
		RetentionDays: 0, DoubleOptIn: false, CreatedAt: t2}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, news); err != nil {
			return err
		}
		return tx.InsertPurpose(s.ctx, sales)
	})
	dup := purpose("newsletter")
	dup.Name = "Other"
	err := s.h.Update(s.ctx, func(tx Tx) error { return tx.InsertPurpose(s.ctx, dup) })
	if e := wantKind(t, "InsertPurpose(duplicate)", err, apperr.Conflict); e != nil && e.ID != "newsletter" {
		t.Errorf("Conflict ID = %q, want newsletter", e.ID)
	}
	s.update(t, func(tx Tx) error {
		got, err := tx.ListPurposes(s.ctx)
		if err != nil {
			return err
		}
		if len(got) != 2 {
			t.Errorf("ListPurposes = %d purposes, want 2", len(got))
			return nil
		}
		checkPurpose(t, got[0], sales) // id order: analytics < newsletter
		checkPurpose(t, got[1], news)
		p, err := tx.PurposeByID(s.ctx, "newsletter")
		if err != nil {
			return err
		}
		checkPurpose(t, p, news)
		return nil
	})
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

func testConsentEvents(t *testing.T, s *suite) {
	e1 := consentEvent("ev-1", "c-1", "newsletter", consent.Given, t2)
	e2 := consentEvent("ev-2", "c-1", "sales", consent.Refused, t0) // occurred before e1, recorded after
	e2.Method, e2.PolicyVersions, e2.NoticeHash, e2.Actor = consent.MethodImport, nil, "", "cli:import"
	e3 := consentEvent("ev-3", "c-1", "newsletter", consent.Withdrawn, t1)
	e3.Method = consent.MethodOneClick
	other := consentEvent("ev-other", "c-2", "newsletter", consent.Given, t0)
	evidence := [][]byte{[]byte("sealed-evidence-1\x00\xff"), nil, bytes.Repeat([]byte{0xab}, 5000)}
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("c-1", "lead", nil, nil), minimalRecord("c-2", "lead", nil, nil)); err != nil {
			return err
		}
		for _, p := range []string{"newsletter", "sales"} {
			if err := tx.InsertPurpose(s.ctx, purpose(p)); err != nil {
				return err
			}
		}
		for i, e := range []*consent.Event{e1, e2} {
			if err := tx.InsertConsentEvent(s.ctx, e, evidence[i]); err != nil {
				return err
			}
		}
		return tx.InsertConsentEvent(s.ctx, other, []byte("other"))
	})
	s.update(t, func(tx Tx) error { return tx.InsertConsentEvent(s.ctx, e3, evidence[2]) })
	s.update(t, func(tx Tx) error {
		evs, sealed, err := tx.ConsentEvents(s.ctx, "c-1")
		if err != nil {
			return err
		}
		want := []*consent.Event{e1, e2, e3}
		if len(evs) != len(want) || len(sealed) != len(want) {
			t.Errorf("ConsentEvents = %d events, %d evidence; want %d", len(evs), len(sealed), len(want))
			return nil
		}
		for i := range want {
			checkEvent(t, evs[i], *want[i])
			if !bytes.Equal(sealed[i], evidence[i]) || (evidence[i] == nil) != (sealed[i] == nil) {
				t.Errorf("evidence of %s = %d bytes (nil %v), want %d bytes (nil %v)", want[i].ID, len(sealed[i]), sealed[i] == nil, len(evidence[i]), evidence[i] == nil)
			}
		}
		evs, sealed, err = tx.ConsentEvents(s.ctx, "c-none")
		if err != nil || len(evs) != 0 || len(sealed) != 0 {
			t.Errorf("ConsentEvents(unknown contact) = %d, %d, %v; want none", len(evs), len(sealed), err)
		}
		return nil
	})
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

func testCurrentConsent(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("c-1", "lead", nil, nil)); err != nil {
			return err
		}
		for _, p := range []string{"sales", "newsletter"} {
			if err := tx.InsertPurpose(s.ctx, purpose(p)); err != nil {
				return err
			}
		}
		if err := tx.PutCurrentConsent(s.ctx, current("c-1", "sales", consent.Given, "ev-s")); err != nil {
			return err
		}
		return tx.PutCurrentConsent(s.ctx, current("c-1", "newsletter", consent.Given, "ev-1"))
	})
	replaced := consent.Current{ContactID: "c-1", Purpose: "newsletter", State: consent.Withdrawn, LawfulBasis: consent.BasisConsent,
		Method: consent.MethodOneClick, OccurredAt: t1, PolicyVersions: map[string]string{"privacy_policy": "4", "terms_of_service": "2"}, EventID: "ev-2"}
	s.update(t, func(tx Tx) error { return tx.PutCurrentConsent(s.ctx, replaced) })
	s.update(t, func(tx Tx) error {
		got, err := tx.CurrentConsent(s.ctx, "c-1", "newsletter")
		if err != nil {
			return err
		}
		checkCurrent(t, got, replaced)
		all, err := tx.CurrentConsents(s.ctx, "c-1")
		if err != nil {
			return err
		}
		if len(all) != 2 {
			t.Errorf("CurrentConsents = %d, want 2 (one per purpose)", len(all))
			return nil
		}
		checkCurrent(t, all[0], replaced) // purpose order: newsletter < sales
		checkCurrent(t, all[1], current("c-1", "sales", consent.Given, "ev-s"))
		return nil
	})
}

// testPurposeUnsubscribes: an address's unsubscribe from one purpose's list is found by its hash
// for that purpose only, keeps its first time, and reaches the gate facts of the contact with the
// address, for that purpose only.
func testPurposeUnsubscribes(t *testing.T, s *suite) {
	h, other := []byte("pu-hash\x00"), []byte("pu-other")
	r := minimalRecord("pu-1", contact.KindContact, []byte("pu-index"), nil)
	r.SuppressionHash = h
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"newsletter", "offers"} {
			if err := tx.InsertPurpose(s.ctx, purpose(id)); err != nil {
				return err
			}
		}
		if err := tx.InsertContact(s.ctx, r); err != nil {
			return err
		}
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{{Hash: h, Purpose: "newsletter", At: t0}})
	})
	s.update(t, func(tx Tx) error {
		// A second entry for the same address and purpose keeps the first time.
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{{Hash: h, Purpose: "newsletter", At: t1}})
	})
	s.update(t, func(tx Tx) error {
		at, err := tx.PurposeUnsubscribedAt(s.ctx, h, "newsletter")
		if err != nil || !at.Equal(t0) {
			t.Errorf("PurposeUnsubscribedAt = %v, %v; want %v", at, err, t0)
		}
		_, err = tx.PurposeUnsubscribedAt(s.ctx, h, "offers")
		wantKind(t, "PurposeUnsubscribedAt(other purpose)", err, apperr.NotFound)
		got, err := tx.PurposeUnsubscribesFor(s.ctx, [][]byte{h, other}, "newsletter")
		if err != nil || len(got) != 1 || !got[string(h)].Equal(t0) {
			t.Errorf("PurposeUnsubscribesFor = %v, %v; want only the one address at %v", got, err, t0)
		}
		f, err := tx.GateFacts(s.ctx, "pu-1", "newsletter")
		if err != nil || f.UnsubscribedAt == nil || !f.UnsubscribedAt.Equal(t0) {
			t.Errorf("GateFacts(newsletter) = %+v, %v; want UnsubscribedAt %v", f, err, t0)
		}
		many, err := tx.GateFactsFor(s.ctx, []string{"pu-1"}, "newsletter")
		if err != nil || many["pu-1"].UnsubscribedAt == nil {
			t.Errorf("GateFactsFor(newsletter) = %+v, %v; want UnsubscribedAt", many, err)
		}
		if f, err := tx.GateFacts(s.ctx, "pu-1", "offers"); err != nil || f.UnsubscribedAt != nil {
			t.Errorf("GateFacts(offers) = %+v, %v; want no unsubscribe: it has the scope of its list", f, err)
		}
		return nil
	})
}

func testSuppression(t *testing.T, s *suite) {
	h1, h2 := []byte("suppr-hash-1\x00"), []byte("suppr-hash-2")
	s.update(t, func(tx Tx) error {
		return tx.AddSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "unsubscribed", CreatedAt: t0})
	})
	s.update(t, func(tx Tx) error {
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "bounced", CreatedAt: t1}); err != nil {
			return fmt.Errorf("repeat AddSuppression: %w", err)
		}
		return tx.AddSuppression(s.ctx, consent.Suppression{Hash: h2, Reason: "erased", CreatedAt: t1})
	})
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			hash []byte
			want string
		}{{h1, "unsubscribed"}, {h2, "erased"}} {
			got, err := tx.SuppressionReason(s.ctx, c.hash)
			if err != nil {
				return err
			}
			if got != c.want {
				t.Errorf("SuppressionReason(%q) = %q, want %q", c.hash, got, c.want)
			}
		}
		return nil
	})
	// PutSuppression replaces the entry held (reason and time), and adds one that is not.
	h3 := []byte("suppr-hash-3")
	s.update(t, func(tx Tx) error {
		if err := tx.PutSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "erased", CreatedAt: t2}); err != nil {
			return err
		}
		return tx.PutSuppression(s.ctx, consent.Suppression{Hash: h3, Reason: "erased", CreatedAt: t1})
	})
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			hash []byte
			at   time.Time
		}{{h1, t2}, {h3, t1}} {
			got, err := tx.Suppression(s.ctx, c.hash)
			if err != nil {
				return err
			}
			if got.Reason != "erased" || !bytes.Equal(got.Hash, c.hash) {
				t.Errorf("Suppression(%q) after PutSuppression = %+v; want erased", c.hash, got)
			}
			checkTime(t, "CreatedAt after PutSuppression", got.CreatedAt, c.at)
		}
		_, err := tx.Suppression(s.ctx, []byte("suppr-none"))
		wantKind(t, "Suppression(absent)", err, apperr.NotFound)
		return nil
	})
}

func testTokens(t *testing.T, s *suite) {
	a := token.Token{ID: "tok-a", Name: "crm-sync", Role: token.RoleAgent, CreatedAt: t0}
	b := token.Token{ID: "tok-b", Name: "support desk", Role: token.RoleAuditor, CreatedAt: t2}
	hashA, hashB := token.Hash("tlt_secret-a"), token.Hash("tlt_secret-b")
	s.update(t, func(tx Tx) error {
		if err := tx.InsertToken(s.ctx, a, hashA); err != nil {
			return err
		}
		return tx.InsertToken(s.ctx, b, hashB)
	})
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			hash []byte
			want token.Token
		}{{hashA, a}, {hashB, b}} {
			got, err := tx.TokenByHash(s.ctx, c.hash)
			if err != nil {
				return err
			}
			if got.ID != c.want.ID || got.Name != c.want.Name || got.Role != c.want.Role || got.RevokedAt != nil {
				t.Errorf("TokenByHash = %+v, want %+v", got, c.want)
			}
			checkTime(t, "token "+c.want.ID+" CreatedAt", got.CreatedAt, c.want.CreatedAt)
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		if n, err := tx.CountLiveTokens(s.ctx); err != nil || n != 2 {
			t.Errorf("CountLiveTokens = %d, %v; want 2", n, err)
		}
		if err := tx.RevokeToken(s.ctx, "tok-a", t1); err != nil {
			return err
		}
		wantKind(t, "RevokeToken twice", tx.RevokeToken(s.ctx, "tok-a", t2), apperr.NotFound)
		wantKind(t, "RevokeToken(missing)", tx.RevokeToken(s.ctx, "tok-x", t2), apperr.NotFound)
		got, err := tx.TokenByHash(s.ctx, hashA)
		if err != nil {
			return err
		}
		if got.RevokedAt == nil {
			t.Fatalf("TokenByHash after revoke: RevokedAt nil")
		}
		checkTime(t, "RevokedAt", *got.RevokedAt, t1)
		if n, err := tx.CountLiveTokens(s.ctx); err != nil || n != 1 {
			t.Errorf("CountLiveTokens after revoke = %d, %v; want 1", n, err)
		}
		list, err := tx.ListTokens(s.ctx)
		if err != nil {
			return err
		}
		if len(list) != 2 || list[0].ID != "tok-a" || list[1].ID != "tok-b" || list[0].RevokedAt == nil || list[1].RevokedAt != nil {
			t.Errorf("ListTokens = %+v; want tok-a (revoked) then tok-b", list)
		}
		return nil
	})
}

func testCheckpoint(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error { return tx.InsertContact(s.ctx, fullRecord("c-cp")) })
	if err := s.h.Checkpoint(s.ctx); err != nil {
		t.Fatalf("Checkpoint: %v%s", err, hint(err))
	}
	if err := s.h.Checkpoint(s.ctx); err != nil {
		t.Fatalf("second Checkpoint: %v%s", err, hint(err))
	}
	s.update(t, func(tx Tx) error {
		got, err := tx.ContactByID(s.ctx, "c-cp")
		if err != nil {
			return err
		}
		checkRecord(t, got, fullRecord("c-cp"))
		return nil
	})
}

// testBulkEqualsSingle writes 300 rows (more than one 256-row statement, so every shape runs)
// with the bulk methods and reads them back with the per-row ones.
func testBulkEqualsSingle(t *testing.T, s *suite) {
	const n = 300
	var recs []*contact.Record
	var wkeys []contact.WrappedKey
	var events []*consent.Event
	var evidence [][]byte
	var cur []consent.Current
	var sups []consent.Suppression
	var audits []*audit.Event
	var idx, hashes [][]byte
	var cids []string
	for i := range n {
		id := fmt.Sprintf("bulk-%03d", i)
		r := fullRecord(id)
		if i%3 == 0 {
			r = minimalRecord(id, contact.KindContact, []byte("bulk-email-"+id), nil)
		}
		recs = append(recs, r)
		idx = append(idx, r.EmailIndex)
		cids = append(cids, id)
		wkeys = append(wkeys, contact.WrappedKey{ContactID: id, Version: r.KeyVersion, Wrapped: []byte("wrapped-" + id), CreatedAt: t0})
		events = append(events, consentEvent("ev-"+id, id, "newsletter", consent.Given, t1))
		if i%2 == 0 {
			evidence = append(evidence, []byte("sealed-evidence-"+id))
		} else {
			evidence = append(evidence, nil)
		}
		cur = append(cur, current(id, "newsletter", consent.Given, "ev-"+id))
		h := []byte("sup-hash-" + id)
		hashes = append(hashes, h)
		sups = append(sups, consent.Suppression{Hash: h, Reason: consent.SuppressionBounced, CreatedAt: t2})
		audits = append(audits, auditEvent("contact.create", id))
	}
	// A later projection for the same contact in the same call wins.
	cur = append(cur, current("bulk-000", "newsletter", consent.Withdrawn, "ev-late"))
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		first := auditEvent("purpose.create", "newsletter")
		return tx.AppendAudit(s.ctx, first)
	})
	s.update(t, func(tx Tx) error {
		for _, step := range []func() error{
			func() error { return tx.InsertDataKeys(s.ctx, wkeys) },
			func() error { return tx.InsertContacts(s.ctx, recs) },
			func() error { return tx.InsertConsentEvents(s.ctx, events, evidence) },
			func() error { return tx.PutCurrentConsents(s.ctx, cur) },
			func() error { return tx.AddSuppressions(s.ctx, sups) },
			func() error { return tx.AppendAudits(s.ctx, audits) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	for i, a := range audits {
		if a.Seq != int64(i+2) {
			t.Fatalf("audit %d got seq %d; want %d (continuing the chain)", i, a.Seq, i+2)
		}
	}
	s.update(t, func(tx Tx) error {
		for i, want := range recs {
			got, err := tx.ContactByID(s.ctx, want.ID)
			if err != nil {
				return err
			}
			checkRecord(t, got, want)
			v, w, err := tx.DataKey(s.ctx, want.ID)
			if err != nil || v != want.KeyVersion || string(w) != "wrapped-"+want.ID {
				t.Errorf("DataKey(%s) = %d, %q, %v", want.ID, v, w, err)
			}
			evs, sealed, err := tx.ConsentEvents(s.ctx, want.ID)
			if err != nil {
				return err
			}
			if len(evs) != 1 || !bytes.Equal(sealed[0], evidence[i]) {
				t.Errorf("ConsentEvents(%s) = %d events, evidence %q; want 1 with %q", want.ID, len(evs), sealed, evidence[i])
			} else {
				checkEvent(t, evs[0], *events[i])
			}
			reason, err := tx.SuppressionReason(s.ctx, hashes[i])
			if err != nil || reason != consent.SuppressionBounced {
				t.Errorf("SuppressionReason(%d) = %q, %v", i, reason, err)
			}
		}
		got, err := tx.ContactIDsByEmailIndex(s.ctx, append(idx, []byte("no-such-index")))
		if err != nil {
			return err
		}
		if len(got) != n {
			t.Errorf("ContactIDsByEmailIndex found %d; want %d", len(got), n)
		}
		for i, k := range idx {
			if got[string(k)] != recs[i].ID {
				t.Errorf("ContactIDsByEmailIndex[%d] = %q; want %q", i, got[string(k)], recs[i].ID)
			}
		}
		reasons, err := tx.SuppressionReasons(s.ctx, hashes)
		if err != nil {
			return err
		}
		if len(reasons) != n {
			t.Errorf("SuppressionReasons found %d; want %d", len(reasons), n)
		}
		cs, err := tx.CurrentConsentsFor(s.ctx, append(cids, "no-such-contact"), "newsletter")
		if err != nil {
			return err
		}
		if len(cs) != n || cs["bulk-000"].State != consent.Withdrawn || cs["bulk-001"].State != consent.Given {
			t.Errorf("CurrentConsentsFor: %d states, bulk-000 %q, bulk-001 %q; want %d, withdrawn, given", len(cs), cs["bulk-000"].State, cs["bulk-001"].State, n)
		}
		checkCurrent(t, cs["bulk-001"], cur[1])
		if other, err := tx.CurrentConsentsFor(s.ctx, cids, "other-purpose"); err != nil || len(other) != 0 {
			t.Errorf("CurrentConsentsFor(other purpose) = %d states, %v; want none", len(other), err)
		}
		return nil
	})
	if v := s.verify(t); !v.OK || v.HeadSeq != n+1 {
		t.Errorf("VerifyAudit = %+v; want OK with head %d", v, n+1)
	}
}

// testBulkDuplicateRollsBack: a taken e-mail index inside a bulk insert fails the statement and
// the transaction leaves nothing behind.
func testBulkDuplicateRollsBack(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		return tx.InsertContact(s.ctx, minimalRecord("dup-a", contact.KindContact, []byte("same-index"), nil))
	})
	err := s.h.Update(s.ctx, func(tx Tx) error {
		recs := []*contact.Record{
			minimalRecord("dup-b", contact.KindContact, []byte("other-index"), nil),
			minimalRecord("dup-c", contact.KindContact, []byte("same-index"), nil),
		}
		if err := tx.AppendAudits(s.ctx, []*audit.Event{auditEvent("contact.create", "dup-b")}); err != nil {
			return err
		}
		return tx.InsertContacts(s.ctx, recs)
	})
	wantKind(t, "InsertContacts with a taken index", err, apperr.Conflict)
	s.update(t, func(tx Tx) error {
		_, err := tx.ContactByID(s.ctx, "dup-b")
		wantKind(t, "ContactByID(dup-b) after rollback", err, apperr.NotFound)
		return nil
	})
	if v := s.verify(t); !v.OK || v.HeadSeq != 0 {
		t.Errorf("VerifyAudit = %+v; want an empty, intact log", v)
	}
}

func testFormerEmails(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("fe-1", contact.KindContact, []byte("fe-index"), nil)); err != nil {
			return err
		}
		for _, h := range []string{"hash-b", "hash-a", "hash-b"} {
			if err := tx.AddFormerEmail(s.ctx, "fe-1", []byte(h)); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.FormerEmails(s.ctx, "fe-1")
		if err != nil {
			return err
		}
		if len(got) != 2 || string(got[0]) != "hash-a" || string(got[1]) != "hash-b" {
			t.Errorf("FormerEmails = %q; want [hash-a hash-b] (a repeat kept once)", got)
		}
		if err := tx.DeleteContact(s.ctx, "fe-1"); err != nil {
			return err
		}
		got, err = tx.FormerEmails(s.ctx, "fe-1")
		if err != nil || len(got) != 0 {
			t.Errorf("FormerEmails after DeleteContact = %q, %v; want none", got, err)
		}
		return nil
	})
}

func testGateFacts(t *testing.T, s *suite) {
	r := minimalRecord("g-1", contact.KindContact, []byte("g-index"), nil)
	r.SuppressionHash = []byte("g-sup")
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		return tx.InsertContact(s.ctx, r)
	})
	s.update(t, func(tx Tx) error {
		f, err := tx.GateFacts(s.ctx, "g-1", "newsletter")
		if err != nil {
			return err
		}
		if f.Current != nil || f.Suppressed || f.Restricted || f.ObjectedPurpose || f.ObjectedDM || f.PendingApproval {
			t.Errorf("GateFacts of a bare contact = %+v; want all false and no state", f)
		}
		_, err = tx.GateFacts(s.ctx, "g-missing", "newsletter")
		wantKind(t, "GateFacts(missing)", err, apperr.NotFound)
		c := current("g-1", "newsletter", consent.Given, "ev-g")
		c.NeedsReconsent = true
		if err := tx.PutCurrentConsent(s.ctx, c); err != nil {
			return err
		}
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: []byte("g-sup"), Reason: consent.SuppressionBounced, CreatedAt: t0}); err != nil {
			return err
		}
		for _, scope := range []string{"newsletter", consent.ScopeDirectMarketing} {
			if err := tx.PutObjection(s.ctx, consent.Objection{ContactID: "g-1", Scope: scope, Method: consent.MethodAPI, OccurredAt: t0, RecordedAt: t1, Actor: "token:x"}); err != nil {
				return err
			}
		}
		e := consentEvent("ev-pending", "g-1", "newsletter", consent.Given, t1)
		e.Approval = "pending"
		if err := tx.InsertConsentEvent(s.ctx, e, nil); err != nil {
			return err
		}
		r.Restricted = true
		return tx.UpdateContact(s.ctx, r)
	})
	s.update(t, func(tx Tx) error {
		f, err := tx.GateFacts(s.ctx, "g-1", "newsletter")
		if err != nil {
			return err
		}
		if f.Current == nil || f.Current.State != consent.Given || !f.Current.NeedsReconsent || !f.Suppressed || !f.Restricted || !f.ObjectedPurpose || !f.ObjectedDM || !f.PendingApproval {
			t.Errorf("GateFacts = %+v (current %+v); want every fact set", f, f.Current)
		}
		if other, err := tx.GateFacts(s.ctx, "g-1", "other"); err != nil || other.ObjectedPurpose || other.Current != nil || !other.ObjectedDM {
			t.Errorf("GateFacts(other purpose) = %+v, %v; want only the direct-marketing objection", other, err)
		}
		// GateFactsFor answers the same for many contacts in one call, leaving out absent ones.
		if err := tx.InsertContact(s.ctx, minimalRecord("g-2", contact.KindContact, []byte("g-index-2"), nil)); err != nil {
			return err
		}
		many, err := tx.GateFactsFor(s.ctx, []string{"g-2", "g-missing", "g-1"}, "newsletter")
		if err != nil {
			return err
		}
		if len(many) != 2 || many["g-2"].Current != nil || many["g-2"].Restricted || many["g-2"].Suppressed || many["g-2"].ObjectedDM {
			t.Errorf("GateFactsFor = %+v; want g-1 and a bare g-2 only", many)
		}
		if g1 := many["g-1"]; g1.Current == nil || g1.Current.ContactID != "g-1" || g1.Current.State != consent.Given || !g1.Current.NeedsReconsent ||
			!g1.Suppressed || !g1.Restricted || !g1.ObjectedPurpose || !g1.ObjectedDM || !g1.PendingApproval {
			t.Errorf("GateFactsFor g-1 = %+v (current %+v); want every fact set, as GateFacts", g1, g1.Current)
		}
		if none, err := tx.GateFactsFor(s.ctx, nil, "newsletter"); err != nil || len(none) != 0 {
			t.Errorf("GateFactsFor(no ids) = %+v, %v; want none", none, err)
		}
		return nil
	})
}

func testObjectionsAndChanges(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("o-1", contact.KindContact, nil, nil)); err != nil {
			return err
		}
		o := consent.Objection{ContactID: "o-1", Scope: "offers", Method: consent.MethodGPC, OccurredAt: t0, RecordedAt: t1, Actor: "public"}
		if err := tx.PutObjection(s.ctx, o); err != nil {
			return err
		}
		return tx.AppendConsentChanges(s.ctx, []consent.Change{
			{ContactID: "o-1", Purpose: "offers", Change: "objected", OccurredAt: t0, RecordedAt: t1},
			{ContactID: "o-1", Purpose: "", Change: "restricted", OccurredAt: t1, RecordedAt: t2},
		})
	})
	s.update(t, func(tx Tx) error {
		os, err := tx.Objections(s.ctx, "o-1")
		if err != nil {
			return err
		}
		if len(os) != 1 || os[0].Scope != "offers" || os[0].Method != consent.MethodGPC || os[0].Actor != "public" {
			t.Errorf("Objections = %+v", os)
		} else {
			checkTime(t, "objection OccurredAt", os[0].OccurredAt, t0)
		}
		cs, err := tx.ConsentChanges(s.ctx, 0, 10)
		if err != nil {
			return err
		}
		if len(cs) != 2 || cs[0].Seq >= cs[1].Seq || cs[0].Change != "objected" || cs[1].Change != "restricted" || cs[1].Purpose != "" {
			t.Errorf("ConsentChanges = %+v", cs)
		}
		if after, err := tx.ConsentChanges(s.ctx, cs[0].Seq, 10); err != nil || len(after) != 1 || after[0].Change != "restricted" {
			t.Errorf("ConsentChanges after the first = %+v, %v", after, err)
		}
		if err := tx.DeleteObjection(s.ctx, "o-1", "offers"); err != nil {
			return err
		}
		wantKind(t, "DeleteObjection twice", tx.DeleteObjection(s.ctx, "o-1", "offers"), apperr.NotFound)
		return nil
	})
}

func testPolicyVersions(t *testing.T, s *suite) {
	v1 := consent.PolicyVersion{ID: "pv-1", Document: consent.DocPrivacyPolicy, Version: 1, Body: "# v1", SHA256: "aa", Material: false, EffectiveAt: t0, CreatedAt: t0}
	v2 := consent.PolicyVersion{ID: "pv-2", Document: consent.DocPrivacyPolicy, Version: 2, Body: "# v2", SHA256: "bb", Material: true, EffectiveAt: t1, CreatedAt: t1}
	s.update(t, func(tx Tx) error {
		if n, err := tx.LatestPolicyVersion(s.ctx, consent.DocPrivacyPolicy); err != nil || n != 0 {
			t.Errorf("LatestPolicyVersion of nothing = %d, %v", n, err)
		}
		if err := tx.InsertPolicyVersion(s.ctx, v1); err != nil {
			return err
		}
		if err := tx.InsertPolicyVersion(s.ctx, v2); err != nil {
			return err
		}
		wantKind(t, "a second version 2", tx.InsertPolicyVersion(s.ctx, consent.PolicyVersion{ID: "pv-x", Document: consent.DocPrivacyPolicy, Version: 2, Body: "x", SHA256: "cc", EffectiveAt: t1, CreatedAt: t1}), apperr.Conflict)
		if cur, err := tx.CurrentPolicyVersions(s.ctx, t2); err != nil || len(cur) != 0 {
			t.Errorf("CurrentPolicyVersions before any publish = %v, %v", cur, err)
		}
		// Published times one nanosecond apart, and an effective time with trailing zeros, must
		// compare as times.
		if err := tx.PublishPolicyVersion(s.ctx, "pv-1", t0, t0); err != nil {
			return err
		}
		if err := tx.PublishPolicyVersion(s.ctx, "pv-2", t1, t1); err != nil {
			return err
		}
		wantKind(t, "publishing twice", tx.PublishPolicyVersion(s.ctx, "pv-2", t2, t2), apperr.NotFound)
		if cur, err := tx.CurrentPolicyVersions(s.ctx, t1.Add(-time.Nanosecond)); err != nil || cur[consent.DocPrivacyPolicy] != 1 {
			t.Errorf("CurrentPolicyVersions just before v2 = %v, %v; want v1", cur, err)
		}
		if cur, err := tx.CurrentPolicyVersions(s.ctx, t1); err != nil || cur[consent.DocPrivacyPolicy] != 2 {
			t.Errorf("CurrentPolicyVersions at v2 = %v, %v; want v2", cur, err)
		}
		got, err := tx.PolicyVersionByID(s.ctx, "pv-2")
		if err != nil {
			return err
		}
		if got.Version != 2 || !got.Material || got.PublishedAt == nil || got.Body != "# v2" || got.SHA256 != "bb" {
			t.Errorf("PolicyVersionByID = %+v", got)
		}
		all, err := tx.PolicyVersions(s.ctx)
		if err != nil || len(all) != 2 || all[0].ID != "pv-1" {
			t.Errorf("PolicyVersions = %+v, %v", all, err)
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		li := purpose("followup")
		li.LawfulBasis = consent.BasisLegitimateInterest
		if err := tx.InsertPurpose(s.ctx, li); err != nil {
			return err
		}
		for _, id := range []string{"m-old", "m-new", "m-none", "m-li"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, contact.KindContact, nil, nil)); err != nil {
				return err
			}
		}
		put := func(id, pur string, pv map[string]string) error {
			c := current(id, pur, consent.Given, "ev-"+id)
			c.PolicyVersions = pv
			return tx.PutCurrentConsent(s.ctx, c)
		}
		for _, err := range []error{
			put("m-old", "newsletter", map[string]string{"privacy_policy": "1"}),
			put("m-new", "newsletter", map[string]string{"privacy_policy": "2"}),
			put("m-none", "newsletter", map[string]string{}),
			put("m-li", "followup", map[string]string{"privacy_policy": "1"}),
		} {
			if err != nil {
				return err
			}
		}
		pairs, err := tx.MarkReconsent(s.ctx, consent.DocPrivacyPolicy, 2)
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, p := range pairs {
			got[p[0]+"/"+p[1]] = true
		}
		if len(pairs) != 2 || !got["m-old/newsletter"] || !got["m-none/newsletter"] {
			t.Errorf("MarkReconsent = %v; want m-old and m-none for newsletter only", pairs)
		}
		if again, err := tx.MarkReconsent(s.ctx, consent.DocPrivacyPolicy, 2); err != nil || len(again) != 0 {
			t.Errorf("MarkReconsent again = %v, %v; want nothing new", again, err)
		}
		c, err := tx.CurrentConsent(s.ctx, "m-old", "newsletter")
		if err != nil || !c.NeedsReconsent {
			t.Errorf("m-old after MarkReconsent = %+v, %v", c, err)
		}
		return nil
	})
}

func testApprovalAndRepermission(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, id := range []string{"r-1", "r-2", "r-3", "r-4"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, contact.KindContact, nil, nil)); err != nil {
				return err
			}
		}
		e := consentEvent("ev-a", "r-1", "newsletter", consent.Given, t1)
		e.Approval = "pending"
		if err := tx.InsertConsentEvent(s.ctx, e, nil); err != nil {
			return err
		}
		old := current("r-1", "newsletter", consent.Given, "ev-a")
		old.OccurredAt = t0
		fresh := current("r-2", "newsletter", consent.Given, "ev-b")
		fresh.OccurredAt = t2
		expired := current("r-3", "newsletter", consent.Expired, "ev-c")
		reconsent := current("r-4", "newsletter", consent.Given, "ev-d")
		reconsent.OccurredAt = t2
		reconsent.NeedsReconsent = true
		for _, c := range []consent.Current{old, fresh, expired, reconsent} {
			if err := tx.PutCurrentConsent(s.ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		e, err := tx.ConsentEventByID(s.ctx, "r-1", "ev-a")
		if err != nil || e.Approval != "pending" {
			t.Errorf("ConsentEventByID = %+v, %v", e, err)
		}
		_, err = tx.ConsentEventByID(s.ctx, "r-2", "ev-a")
		wantKind(t, "ConsentEventByID of another contact", err, apperr.NotFound)
		if err := tx.SetConsentApproval(s.ctx, "ev-a", "approved", "token:second"); err != nil {
			return err
		}
		e, _ = tx.ConsentEventByID(s.ctx, "r-1", "ev-a")
		if e.Approval != "approved" || e.ApprovedBy != "token:second" {
			t.Errorf("after approval: %+v", e)
		}
		list, err := tx.RepermissionList(s.ctx, "newsletter", t1, "", 10)
		if err != nil {
			return err
		}
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ContactID)
		}
		if strings.Join(ids, ",") != "r-1,r-3,r-4" {
			t.Errorf("RepermissionList(valid from t1) = %v; want r-1 (given before), r-3 (expired), r-4 (needs re-consent)", ids)
		}
		page, err := tx.RepermissionList(s.ctx, "newsletter", time.Time{}, "r-3", 10)
		if err != nil || len(page) != 1 || page[0].ContactID != "r-4" {
			t.Errorf("RepermissionList(no validity, after r-3) = %+v, %v; want r-4", page, err)
		}
		return nil
	})
}

// testImportErrors: refused rows of an import are stored in batches and read back in line order,
// a page at a time, whatever order the batches came in; an unknown import is NotFound.
func testImportErrors(t *testing.T, s *suite) {
	row := func(line int) importer.RowReport {
		return importer.RowReport{Line: line, Field: "email", Code: "missing_at", Reason: fmt.Sprintf("email: no @ (%d)", line)}
	}
	var first, second []importer.RowReport
	for line := 2; line < 600; line += 2 {
		first = append(first, row(line))
	}
	for line := 601; line < 900; line++ {
		second = append(second, row(line))
	}
	s.update(t, func(tx Tx) error {
		if err := tx.StartImport(s.ctx, "imp-1", "generic", t0); err != nil {
			return err
		}
		if err := tx.StartImport(s.ctx, "imp-2", "mailchimp", t1); err != nil {
			return err
		}
		if err := tx.AddImportErrors(s.ctx, "imp-1", second); err != nil {
			return err
		}
		if err := tx.AddImportErrors(s.ctx, "imp-2", []importer.RowReport{{Line: 7, Code: "malformed_row", Reason: "x"}}); err != nil {
			return err
		}
		if err := tx.AddImportErrors(s.ctx, "imp-1", first); err != nil {
			return err
		}
		return tx.AddImportErrors(s.ctx, "imp-1", nil)
	})
	want := append(slices.Clone(first), second...)
	var got []importer.RowReport
	s.update(t, func(tx Tx) error {
		after := 0
		for {
			page, err := tx.ImportErrors(s.ctx, "imp-1", after, 128)
			if err != nil {
				return err
			}
			got = append(got, page...)
			if len(page) < 128 {
				return nil
			}
			after = page[len(page)-1].Line
		}
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %d rows (first %+v); want %d in line order", len(got), got[:min(1, len(got))], len(want))
	}
	s.update(t, func(tx Tx) error {
		page, err := tx.ImportErrors(s.ctx, "imp-2", 0, 10)
		if err != nil || len(page) != 1 || page[0] != (importer.RowReport{Line: 7, Code: "malformed_row", Reason: "x"}) {
			t.Errorf("imp-2: %+v, %v", page, err)
		}
		_, err = tx.ImportErrors(s.ctx, "imp-3", 0, 10)
		wantKind(t, "ImportErrors of an unknown import", err, apperr.NotFound)
		return nil
	})
	err := s.h.Update(s.ctx, func(tx Tx) error { return tx.AddImportErrors(s.ctx, "imp-3", first) })
	wantKind(t, "AddImportErrors to an unknown import", err, apperr.NotFound)
	err = s.h.Update(s.ctx, func(tx Tx) error { return tx.StartImport(s.ctx, "imp-1", "generic", t2) })
	wantKind(t, "StartImport with a taken id", err, apperr.Conflict)
}

// testLedger: the erasure ledger keeps each erasure's hashes, and every Ledger… read returns what
// was decided at or after its since (the same instant included), and nothing else.
func testLedger(t *testing.T, s *suite) {
	h1, h2 := []byte("ledger-hash-1\x00\xff"), []byte("ledger-hash-2")
	s.update(t, func(tx Tx) error {
		if err := insertContacts(s.ctx, tx, minimalRecord("l-1", "lead", nil, nil), minimalRecord("l-2", "lead", nil, nil)); err != nil {
			return err
		}
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, e := range []*consent.Event{
			consentEvent("lg-given", "l-1", "newsletter", consent.Given, t0),
			consentEvent("lg-refused", "l-1", "newsletter", consent.Refused, t0), // recorded t1
			consentEvent("lg-withdrawn", "l-2", "newsletter", consent.Withdrawn, t0),
		} {
			if e.ID == "lg-withdrawn" {
				e.RecordedAt = t2
			}
			if err := tx.InsertConsentEvent(s.ctx, e, []byte("sealed-"+e.ID)); err != nil {
				return err
			}
		}
		for _, o := range []consent.Objection{
			{ContactID: "l-1", Scope: "direct_marketing", Method: consent.MethodAPI, OccurredAt: t0, RecordedAt: t0, Actor: "token:a"},
			{ContactID: "l-2", Scope: "offers", Method: consent.MethodGPC, OccurredAt: t0, RecordedAt: t2, Actor: "public"},
		} {
			if err := tx.PutObjection(s.ctx, o); err != nil {
				return err
			}
		}
		r := minimalRecord("l-3", "lead", nil, nil)
		r.Restricted, r.UpdatedAt = true, t0 // restricted with no change on the stream: its last update
		if err := tx.InsertContact(s.ctx, r); err != nil {
			return err
		}
		r = minimalRecord("l-4", "lead", nil, nil)
		r.Restricted = true
		if err := tx.InsertContact(s.ctx, r); err != nil {
			return err
		}
		if err := tx.AppendConsentChanges(s.ctx, []consent.Change{{ContactID: "l-4", Change: "restricted", OccurredAt: t1, RecordedAt: t2}}); err != nil {
			return err
		}
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: h1, Reason: "erased", CreatedAt: t0, RecordedAt: t0}); err != nil {
			return err
		}
		// An imported cleaned row: bounced long before (its CLEAN_TIME), recorded at t2, which
		// --since reads.
		if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: h2, Reason: "bounced", CreatedAt: t0.Add(-time.Hour), RecordedAt: t2}); err != nil {
			return err
		}
		if err := tx.AppendErasure(s.ctx, "gone-1", t0, [][]byte{h1, h2}); err != nil {
			return err
		}
		if err := tx.AppendErasure(s.ctx, "gone-1", t2, nil); err != nil { // kept as it is
			return err
		}
		return tx.AppendErasure(s.ctx, "gone-2", t2, nil)
	})
	s.update(t, func(tx Tx) error {
		if ok, err := tx.ErasureRecorded(s.ctx, "gone-1"); err != nil || !ok {
			t.Errorf("ErasureRecorded(gone-1) = %v, %v; want true", ok, err)
		}
		if ok, err := tx.ErasureRecorded(s.ctx, "l-1"); err != nil || ok {
			t.Errorf("ErasureRecorded(l-1) = %v, %v; want false", ok, err)
		}
		es, err := tx.LedgerErasures(s.ctx, time.Time{})
		if err != nil {
			return err
		}
		if len(es) != 2 || es[0].ContactID != "gone-1" || len(es[0].SuppressionHashes) != 2 || !bytes.Equal(es[0].SuppressionHashes[0], h1) ||
			!bytes.Equal(es[0].SuppressionHashes[1], h2) || es[1].ContactID != "gone-2" || len(es[1].SuppressionHashes) != 0 {
			t.Errorf("LedgerErasures = %+v; want gone-1 with both hashes, then gone-2 with none", es)
		} else {
			checkTime(t, "ErasedAt", es[0].ErasedAt, t0)
		}
		return nil
	})
	for _, c := range []struct {
		since                                            time.Time
		erasures, sups, events, objections, restrictions []string
	}{
		{time.Time{}, []string{"gone-1", "gone-2"}, []string{"erased", "bounced"}, []string{"lg-refused", "lg-withdrawn"}, []string{"l-1", "l-2"}, []string{"l-3", "l-4"}},
		{t1, []string{"gone-2"}, []string{"bounced"}, []string{"lg-refused", "lg-withdrawn"}, []string{"l-2"}, []string{"l-4"}},
		{t2, []string{"gone-2"}, []string{"bounced"}, []string{"lg-withdrawn"}, []string{"l-2"}, nil},
		{t2.Add(time.Nanosecond), nil, nil, nil, nil, nil},
	} {
		s.update(t, func(tx Tx) error {
			var got [5][]string
			es, err := tx.LedgerErasures(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, e := range es {
				got[0] = append(got[0], e.ContactID)
			}
			sups, err := tx.LedgerSuppressions(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, x := range sups {
				got[1] = append(got[1], x.Reason)
				if x.Reason == "bounced" {
					checkTime(t, "CreatedAt of the bounce", x.CreatedAt, t0.Add(-time.Hour))
					checkTime(t, "RecordedAt of the bounce", x.RecordedAt, t2)
				}
			}
			evs, sealed, err := tx.LedgerConsentEvents(s.ctx, c.since)
			if err != nil {
				return err
			}
			for i, e := range evs {
				got[2] = append(got[2], e.ID)
				if string(sealed[i]) != "sealed-"+e.ID {
					t.Errorf("since %s: evidence of %s = %q", c.since, e.ID, sealed[i])
				}
			}
			objs, err := tx.LedgerObjections(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, o := range objs {
				got[3] = append(got[3], o.ContactID)
			}
			rs, err := tx.LedgerRestrictions(s.ctx, c.since)
			if err != nil {
				return err
			}
			for _, r := range rs {
				got[4] = append(got[4], r.ContactID)
				want := map[string]time.Time{"l-3": t0, "l-4": t1}[r.ContactID]
				checkTime(t, "RestrictedAt of "+r.ContactID, r.RestrictedAt, want)
			}
			for i, want := range [][]string{c.erasures, c.sups, c.events, c.objections, c.restrictions} {
				if !slices.Equal(got[i], want) {
					t.Errorf("since %s: read %d = %v; want %v", c.since, i, got[i], want)
				}
			}
			return nil
		})
	}
}

// testLedgerListUnsubscribes: LedgerListUnsubscribes returns the unsubscribes from purposes'
// lists recorded at or after since (the same instant included), by when they were recorded, not
// by when the person left (an UNSUB_TIME before since is still returned), with both times; a
// second entry for the same address and purpose keeps the first one's times.
func testLedgerListUnsubscribes(t *testing.T, s *suite) {
	a, b := []byte("llu-a"), []byte("llu-b\x00\xff")
	s.update(t, func(tx Tx) error {
		for _, id := range []string{"newsletter", "offers"} {
			if err := tx.InsertPurpose(s.ctx, purpose(id)); err != nil {
				return err
			}
		}
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{
			{Hash: a, Purpose: "newsletter", At: t0, RecordedAt: t1},
			{Hash: b, Purpose: "offers", At: t0, RecordedAt: t2},
		})
	})
	s.update(t, func(tx Tx) error {
		return tx.AddPurposeUnsubscribes(s.ctx, []consent.PurposeUnsubscribe{{Hash: a, Purpose: "newsletter", At: t1, RecordedAt: t2}})
	})
	for _, c := range []struct {
		since time.Time
		want  []string
	}{
		{time.Time{}, []string{"newsletter", "offers"}},
		{t1, []string{"newsletter", "offers"}},
		{t1.Add(time.Nanosecond), []string{"offers"}},
		{t2, []string{"offers"}},
		{t2.Add(time.Nanosecond), nil},
	} {
		s.update(t, func(tx Tx) error {
			us, err := tx.LedgerListUnsubscribes(s.ctx, c.since)
			if err != nil {
				return err
			}
			var got []string
			for _, u := range us {
				got = append(got, u.Purpose)
				hash, recorded := map[string][]byte{"newsletter": a, "offers": b}[u.Purpose], map[string]time.Time{"newsletter": t1, "offers": t2}[u.Purpose]
				if !bytes.Equal(u.Hash, hash) {
					t.Errorf("since %s: %s hash %x; want %x", c.since, u.Purpose, u.Hash, hash)
				}
				checkTime(t, "At of "+u.Purpose, u.At, t0)
				checkTime(t, "RecordedAt of "+u.Purpose, u.RecordedAt, recorded)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("LedgerListUnsubscribes(since %s) = %v; want %v", c.since, got, c.want)
			}
			return nil
		})
	}
}

// requestTx is the part of a store transaction that records data subject requests.
type requestTx interface {
	InsertRequest(ctx context.Context, r *dsr.Record) error
	UpdateRequest(ctx context.Context, r *dsr.Record) error
}

// testGateFactsRequests: the gate sees a contact's erasure or restriction request from its
// verification (bound to the contact, in_progress or extended) until it is closed; a request not
// yet verified, closed, or bound to someone else is no fact about the contact.
func testGateFactsRequests(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error {
		if err := tx.InsertPurpose(s.ctx, purpose("newsletter")); err != nil {
			return err
		}
		for _, id := range []string{"gr-1", "gr-2"} {
			if err := tx.InsertContact(s.ctx, minimalRecord(id, contact.KindContact, []byte(id+"-index"), nil)); err != nil {
				return err
			}
		}
		return nil
	})
	rec := func(id string, typ dsr.Type) *dsr.Record {
		return &dsr.Record{Request: dsr.Request{ID: id, Type: typ, State: dsr.StateVerifying, Channel: dsr.ChannelPortal, ReceivedAt: t0, DueAt: t0.AddDate(0, 1, 0)},
			KeyVersion: 1, Sealed: map[string][]byte{}, UpdatedAt: t0, Version: 1}
	}
	erasure, restriction, other := rec("req-e", dsr.TypeErasure), rec("req-r", dsr.TypeRestriction), rec("req-o", dsr.TypeErasure)
	facts := func(tx Tx, id string) consent.Facts {
		t.Helper()
		f, err := tx.GateFacts(s.ctx, id, "newsletter")
		if err != nil {
			t.Fatal(err)
		}
		many, err := tx.GateFactsFor(s.ctx, []string{id}, "newsletter")
		if err != nil {
			t.Fatal(err)
		}
		if m := many[id]; m.ErasureRequested != f.ErasureRequested || m.RestrictionRequested != f.RestrictionRequested {
			t.Errorf("GateFactsFor(%s) = %+v; GateFacts says %+v", id, m, f)
		}
		return f
	}
	step := func(name string, change func(), wantErasure, wantRestriction bool) {
		t.Helper()
		s.update(t, func(tx Tx) error {
			rt, ok := tx.(requestTx)
			if !ok {
				t.Skip("the store does not record requests")
			}
			change()
			for _, r := range []*dsr.Record{erasure, restriction, other} {
				err := rt.UpdateRequest(s.ctx, r)
				if apperr.Is(err, apperr.NotFound) {
					err = rt.InsertRequest(s.ctx, r)
				}
				if err != nil {
					return err
				}
			}
			if f := facts(tx, "gr-1"); f.ErasureRequested != wantErasure || f.RestrictionRequested != wantRestriction {
				t.Errorf("%s: GateFacts = erasure requested %v, restriction requested %v; want %v, %v", name, f.ErasureRequested, f.RestrictionRequested, wantErasure, wantRestriction)
			}
			if f := facts(tx, "gr-2"); f.ErasureRequested || f.RestrictionRequested {
				t.Errorf("%s: the other contact has facts %+v; want none", name, f)
			}
			return nil
		})
	}
	step("waiting for identity", func() {}, false, false)
	step("verified", func() {
		erasure.State, erasure.ContactID = dsr.StateInProgress, "gr-1"
		restriction.State, restriction.ContactID = dsr.StateInProgress, "gr-1"
		other.State, other.ContactID = dsr.StateRejected, "gr-2" // closed: no fact about gr-2
	}, true, true)
	step("extended", func() { erasure.State = dsr.StateExtended }, true, true)
	step("rejected and completed", func() {
		erasure.State, restriction.State = dsr.StateRejected, dsr.StateCompleted
	}, false, false)
}
