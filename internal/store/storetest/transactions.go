package storetest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/token"
)

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
