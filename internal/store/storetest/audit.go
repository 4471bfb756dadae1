package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
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

// appendEvents appends n audit events, one transaction each, and returns them as appended
// (numbered, chained).
func appendEvents(t *testing.T, s *suite, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := range n {
		e := audit.Event{
			At:     t2.Add(time.Duration(i) * time.Second),
			Actor:  audit.Actor{Kind: audit.ActorToken, ID: fmt.Sprintf("tok-%d", i%3), Role: "agent"},
			Action: "contact.read", ObjectKind: "contact", ObjectID: fmt.Sprintf("c-%02d", i),
			Fields: []string{"email", "phone"}, RequestID: fmt.Sprintf("req-%02d", i), Purpose: "newsletter",
		}
		s.update(t, func(tx Tx) error { return tx.AppendAudit(s.ctx, &e) })
		out = append(out, e)
	}
	return out
}

// broken is the verification of a chain of which event seq is the first that fails for reason.
func broken(seq int64, reason string) audit.Verification {
	return audit.Verification{Checked: seq, FirstBroken: seq, Reason: reason, HeadSeq: seq - 1}
}

// testAuditTamper writes a chain of 10 events, changes the stored log behind the store's back
// (Backend.Tamper, which reopens the store) and checks what VerifyAudit reports: the first
// event that does not verify, and why (GDPR Art. 5(2), DESIGN §1 point 12: tamper-evident).
func testAuditTamper(t *testing.T, s *suite) {
	// alter returns an edit of event seq of events by change, its stored hash kept.
	alter := func(seq int64, change func(e *audit.Event)) func([]audit.Event) []AuditEdit {
		return func(events []audit.Event) []AuditEdit {
			e := events[seq-1]
			e.Fields = slices.Clone(e.Fields)
			change(&e)
			return []AuditEdit{{Seq: seq, Event: e}}
		}
	}
	del := func(seqs ...int64) func([]audit.Event) []AuditEdit {
		return func([]audit.Event) []AuditEdit {
			var out []AuditEdit
			for _, seq := range seqs {
				out = append(out, AuditEdit{Seq: seq, Delete: true})
			}
			return out
		}
	}
	// rehash rewrites event seq by change with a hash recomputed over it, as an attacker who
	// knows the scheme would.
	rehash := func(seq int64) func([]audit.Event) []AuditEdit {
		return alter(seq, func(e *audit.Event) { e.Action = "contact.erase"; e.Hash = e.ComputeHash(e.PrevHash) })
	}
	cases := []struct {
		name  string
		edits func(events []audit.Event) []AuditEdit
		want  audit.Verification
	}{
		{"untouched", del(), audit.Verification{OK: true, Checked: 10, HeadSeq: 10}},
		{"alter action of 5", alter(5, func(e *audit.Event) { e.Action = "contact.erase" }), broken(5, "hash")},
		{"alter object_id of 5", alter(5, func(e *audit.Event) { e.ObjectID = "c-99" }), broken(5, "hash")},
		{"alter actor kind of 5", alter(5, func(e *audit.Event) { e.Actor.Kind = audit.ActorSystem }), broken(5, "hash")},
		{"alter actor id of 5", alter(5, func(e *audit.Event) { e.Actor.ID = "tok-9" }), broken(5, "hash")},
		{"alter actor role of 5", alter(5, func(e *audit.Event) { e.Actor.Role = "admin" }), broken(5, "hash")},
		{"alter object_kind of 5", alter(5, func(e *audit.Event) { e.ObjectKind = "purpose" }), broken(5, "hash")},
		{"alter fields of 5", alter(5, func(e *audit.Event) { e.Fields = []string{"email"} }), broken(5, "hash")},
		{"alter request_id of 5", alter(5, func(e *audit.Event) { e.RequestID = "" }), broken(5, "hash")},
		{"alter purpose of 5", alter(5, func(e *audit.Event) { e.Purpose = "sales" }), broken(5, "hash")},
		{"alter at of 5 by 1ns", alter(5, func(e *audit.Event) { e.At = e.At.Add(time.Nanosecond) }), broken(5, "hash")},
		{"alter hash of 5", alter(5, func(e *audit.Event) { e.Hash = make([]byte, audit.HashSize) }), broken(5, "hash")},
		{"delete 4", del(4), audit.Verification{Checked: 4, FirstBroken: 4, Reason: "gap", HeadSeq: 3}},
		{"delete 1", del(1), audit.Verification{Checked: 1, FirstBroken: 1, Reason: "gap", HeadSeq: 0}},
		{"swap 3 and 6 except seq", func(events []audit.Event) []AuditEdit {
			return []AuditEdit{{Seq: 3, Event: events[5]}, {Seq: 6, Event: events[2]}}
		}, broken(3, "prev_hash")},
		{"alter prev_hash of 7", alter(7, func(e *audit.Event) { e.PrevHash = bytes.Repeat([]byte{0x5a}, audit.HashSize) }), broken(7, "prev_hash")},
		// Event 6 still holds the old hash of 5.
		{"alter 5 and recompute its hash", rehash(5), broken(6, "prev_hash")},
		// Found by a new-user trial: dropping events from the end left a valid shorter chain.
		{"truncate after 7", del(8, 9, 10), audit.Verification{Checked: 7, FirstBroken: 8, Reason: "truncated", HeadSeq: 7}},
		{"delete every event", del(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), audit.Verification{Checked: 0, FirstBroken: 1, Reason: "truncated", HeadSeq: 0}},
		{"rewrite the last event consistently", rehash(10), audit.Verification{Checked: 10, FirstBroken: 10, Reason: "anchor_mismatch", HeadSeq: 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := s.fresh(t)
			events := appendEvents(t, s, 10)
			s.tamper(t, tc.edits(events)...)
			if got := s.verify(t); got != tc.want {
				t.Errorf("VerifyAudit = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// testAuditTruncationStaysVisible: found by a second new-user trial, a write after the newest
// events were deleted chained onto the shortened log and moved the anchor, hiding the deletion.
// New events follow the anchored head, so the gap shows.
func testAuditTruncationStaysVisible(t *testing.T, s *suite) {
	appendEvents(t, s, 12)
	s.tamper(t, AuditEdit{Seq: 10, Delete: true}, AuditEdit{Seq: 11, Delete: true}, AuditEdit{Seq: 12, Delete: true})
	appendEvents(t, s, 1)
	want := audit.Verification{Checked: 10, FirstBroken: 10, Reason: "gap", HeadSeq: 9}
	if got := s.verify(t); got != want {
		t.Errorf("VerifyAudit after a write = %+v, want %+v", got, want)
	}
}

// testAuditEventsAbout: every audit event about one object (kind and id), oldest first, as
// appended.
func testAuditEventsAbout(t *testing.T, s *suite) {
	events := []*audit.Event{
		auditEvent("contact.create", "c-about"),
		auditEvent("contact.read", "c-other"),
		{At: t1, Actor: audit.Actor{Kind: audit.ActorSystem, ID: "tillit"}, Action: "request.create", ObjectKind: "request", ObjectID: "c-about"},
		auditEvent("contact.update", "c-about"),
	}
	s.update(t, func(tx Tx) error { return tx.AppendAudits(s.ctx, events[:2]) })
	s.update(t, func(tx Tx) error { return tx.AppendAudits(s.ctx, events[2:]) })
	s.view(t, func(tx Tx) error {
		got, err := tx.AuditEventsAbout(s.ctx, "contact", "c-about")
		if err != nil {
			return err
		}
		want := []*audit.Event{events[0], events[3]}
		if len(got) != len(want) {
			t.Errorf("AuditEventsAbout(contact, c-about) = %d events; want 2", len(got))
			return nil
		}
		for i, w := range want {
			checkTime(t, "event At", got[i].At, w.At)
			g := got[i]
			g.At = w.At
			if !reflect.DeepEqual(g, *w) {
				t.Errorf("AuditEventsAbout[%d] = %+v; want %+v", i, g, *w)
			}
		}
		if none, err := tx.AuditEventsAbout(s.ctx, "contact", "c-none"); err != nil || len(none) != 0 {
			t.Errorf("AuditEventsAbout(no such object) = %v, %v; want none", none, err)
		}
		return nil
	})
}

// testKeyEvidence: what a start checks its keys against (store.KeyEvidence). An empty store has
// no anchor and no data key; once events are anchored, the anchor's MAC verifies under the keys
// the store was opened with, and the data key given is the key store's first by owner id, with
// its version and bytes.
func testKeyEvidence(t *testing.T, s *suite) {
	ev, err := s.h.KeyEvidence(s.ctx)
	if err != nil || !ev.AnchorVerifies || ev.OwnerID != "" || ev.Wrapped != nil {
		t.Errorf("KeyEvidence of an empty store = %+v, %v; want the anchor verifying, no data key", ev, err)
	}
	appendEvents(t, s, 3)
	s.update(t, func(tx Tx) error {
		if err := tx.InsertDataKey(s.ctx, "c-b", 1, []byte("wrapped b"), t0); err != nil {
			return err
		}
		return tx.InsertDataKey(s.ctx, "c-a", 2, []byte("wrapped a"), t1)
	})
	ev, err = s.h.KeyEvidence(s.ctx)
	if err != nil || !ev.AnchorVerifies || ev.OwnerID != "c-a" || ev.Version != 2 || string(ev.Wrapped) != "wrapped a" {
		t.Errorf("KeyEvidence = %+v, %v; want the anchor verifying and c-a's data key, version 2", ev, err)
	}
}
