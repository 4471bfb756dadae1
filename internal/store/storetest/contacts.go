package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

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
			got, err := tx.ContactsByPhoneIndex(s.ctx, [][]byte{c.idx}, c.limit)
			if err != nil {
				return err
			}
			if !slices.Equal(ids(got), c.want) {
				t.Errorf("ContactsByPhoneIndex(%s, %d) = %v, want %v", c.idx, c.limit, ids(got), c.want)
			}
		}
		got, err := tx.ContactsByPhoneIndex(s.ctx, [][]byte{shared}, 1)
		if err != nil {
			return err
		}
		if len(got) == 1 {
			checkRecord(t, got[0], minimalRecord("p1", "lead", nil, shared))
		}
		return nil
	})
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

// testPurge: Purge keeps every committed row, and may run twice.
func testPurge(t *testing.T, s *suite) {
	s.update(t, func(tx Tx) error { return tx.InsertContact(s.ctx, fullRecord("c-cp")) })
	if err := s.h.Purge(s.ctx); err != nil {
		t.Fatalf("Purge: %v%s", err, hint(err))
	}
	if err := s.h.Purge(s.ctx); err != nil {
		t.Fatalf("second Purge: %v%s", err, hint(err))
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
