package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/importer"
)

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
