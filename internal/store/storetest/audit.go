package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/audit"
)

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
