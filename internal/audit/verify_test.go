package audit_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/audit"
)

var at = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// chain returns n events numbered from 1 and hash-chained from the genesis hash, as a store
// appends them.
func chain(n int) []audit.Event {
	prev := audit.Genesis()
	out := make([]audit.Event, n)
	for i := range out {
		e := audit.Event{
			Seq:        int64(i + 1),
			At:         at.Add(time.Duration(i) * time.Minute),
			Actor:      audit.Actor{Kind: audit.ActorToken, ID: "tok-1", Role: "dpo"},
			Action:     "contact.read",
			ObjectKind: "contact",
			ObjectID:   "c-" + string(rune('a'+i)),
			Fields:     []string{"email", "notes"},
			RequestID:  "req-1",
			Purpose:    "newsletter",
			PrevHash:   prev,
		}
		e.Hash = e.ComputeHash(prev)
		prev = e.Hash
		out[i] = e
	}
	return out
}

// rehash recomputes the hashes of events[from:] so that they chain, as an attacker who knows the
// scheme would.
func rehash(events []audit.Event, from int) {
	prev := audit.Genesis()
	if from > 0 {
		prev = events[from-1].Hash
	}
	for i := from; i < len(events); i++ {
		events[i].PrevHash = prev
		events[i].Hash = events[i].ComputeHash(prev)
		prev = events[i].Hash
	}
}

func run(events []audit.Event) audit.Verification {
	v := audit.NewVerifier()
	for _, e := range events {
		if !v.Add(e) {
			break
		}
	}
	return v.Result()
}

func broken(seq int64, reason string) audit.Verification {
	return audit.Verification{Checked: seq, FirstBroken: seq, Reason: reason, HeadSeq: seq - 1}
}

func TestVerifier(t *testing.T) {
	wrongGenesis := bytes.Repeat([]byte{1}, audit.HashSize)
	cases := []struct {
		name   string
		tamper func([]audit.Event) []audit.Event
		want   audit.Verification
	}{
		{"empty", func([]audit.Event) []audit.Event { return nil }, audit.Verification{OK: true}},
		{"intact", func(es []audit.Event) []audit.Event { return es }, audit.Verification{OK: true, Checked: 6, HeadSeq: 6}},
		{"altered action", func(es []audit.Event) []audit.Event { es[2].Action = "contact.erase"; return es }, broken(3, "hash")},
		{"altered object id", func(es []audit.Event) []audit.Event { es[2].ObjectID = "c-z"; return es }, broken(3, "hash")},
		{"altered time", func(es []audit.Event) []audit.Event { es[0].At = es[0].At.Add(time.Nanosecond); return es }, broken(1, "hash")},
		{"altered stored hash", func(es []audit.Event) []audit.Event { es[5].Hash = bytes.Clone(es[4].Hash); return es }, broken(6, "hash")},
		{"truncated stored hash", func(es []audit.Event) []audit.Event { es[3].Hash = es[3].Hash[:16]; return es }, broken(4, "hash")},
		{"altered and rehashed", func(es []audit.Event) []audit.Event {
			es[2].Action = "contact.erase"
			es[2].Hash = es[2].ComputeHash(es[2].PrevHash)
			return es
		}, broken(4, "prev_hash")},
		{"gap", func(es []audit.Event) []audit.Event { return slices.Delete(es, 3, 4) }, audit.Verification{Checked: 4, FirstBroken: 4, Reason: "gap", HeadSeq: 3}},
		{"gap renumbered and rehashed", func(es []audit.Event) []audit.Event {
			// Deleting event 4 and rewriting the whole tail consistently verifies: the chain
			// alone cannot catch it, signed checkpoints of the head do (DESIGN §2).
			es = slices.Delete(es, 3, 4)
			for i := 3; i < len(es); i++ {
				es[i].Seq = int64(i + 1)
			}
			rehash(es, 3)
			return es
		}, audit.Verification{OK: true, Checked: 5, HeadSeq: 5}},
		{"first event missing", func(es []audit.Event) []audit.Event { return es[1:] }, audit.Verification{Checked: 1, FirstBroken: 1, Reason: "gap", HeadSeq: 0}},
		{"reordered", func(es []audit.Event) []audit.Event { es[2], es[3] = es[3], es[2]; return es }, audit.Verification{Checked: 3, FirstBroken: 3, Reason: "gap", HeadSeq: 2}},
		{"reordered, seq kept", func(es []audit.Event) []audit.Event {
			es[2], es[3] = es[3], es[2]
			es[2].Seq, es[3].Seq = 3, 4
			return es
		}, broken(3, "prev_hash")},
		{"duplicated", func(es []audit.Event) []audit.Event { return slices.Insert(es, 3, es[2]) }, audit.Verification{Checked: 4, FirstBroken: 4, Reason: "gap", HeadSeq: 3}},
		{"wrong genesis", func(es []audit.Event) []audit.Event {
			es[0].PrevHash = wrongGenesis
			es[0].Hash = es[0].ComputeHash(wrongGenesis)
			rehash(es, 1) // the rest chains consistently from the forged event 1
			return es
		}, broken(1, "prev_hash")},
		{"nil genesis", func(es []audit.Event) []audit.Event {
			es[0].PrevHash = nil
			return es
		}, broken(1, "prev_hash")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.tamper(chain(6))); got != tc.want {
				t.Errorf("Verify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVerifierStopsAtFirstBreak(t *testing.T) {
	es := chain(5)
	es[1].Action = "contact.erase"
	v := audit.NewVerifier()
	var accepted []bool
	for _, e := range es {
		accepted = append(accepted, v.Add(e))
	}
	if want := []bool{true, false, false, false, false}; !slices.Equal(accepted, want) {
		t.Errorf("Add results = %v, want %v", accepted, want)
	}
	if got, want := v.Result(), broken(2, "hash"); got != want {
		t.Errorf("Result = %+v, want %+v (events after the break are not counted)", got, want)
	}
}

func TestVerificationString(t *testing.T) {
	if got, want := (audit.Verification{OK: true, Checked: 3, HeadSeq: 3}).String(), "audit log intact: 3 events verified, head 3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := broken(5, "gap").String(), "audit log broken at event 5 (gap); events before it verify"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestGenesis(t *testing.T) {
	g := audit.Genesis()
	if !bytes.Equal(g, make([]byte, audit.HashSize)) {
		t.Errorf("Genesis() = %x, want %d zero bytes", g, audit.HashSize)
	}
}

func TestComputeHashCoversEveryMember(t *testing.T) {
	base := chain(1)[0]
	prev := audit.Genesis()
	want := base.ComputeHash(prev)
	if len(want) != audit.HashSize {
		t.Fatalf("hash length = %d, want %d", len(want), audit.HashSize)
	}
	cases := []struct {
		name   string
		change func(e *audit.Event)
	}{
		{"Seq", func(e *audit.Event) { e.Seq++ }},
		{"At +1ns", func(e *audit.Event) { e.At = e.At.Add(time.Nanosecond) }},
		{"At -1s", func(e *audit.Event) { e.At = e.At.Add(-time.Second) }},
		{"Actor.Kind", func(e *audit.Event) { e.Actor.Kind = audit.ActorCLI }},
		{"Actor.ID", func(e *audit.Event) { e.Actor.ID = "tok-2" }},
		{"Actor.Role", func(e *audit.Event) { e.Actor.Role = "admin" }},
		{"Action", func(e *audit.Event) { e.Action = "contact.update" }},
		{"ObjectKind", func(e *audit.Event) { e.ObjectKind = "purpose" }},
		{"ObjectID", func(e *audit.Event) { e.ObjectID = "c-b" }},
		{"Fields: one more", func(e *audit.Event) { e.Fields = append(slices.Clone(e.Fields), "phone") }},
		{"Fields: one fewer", func(e *audit.Event) { e.Fields = e.Fields[:1] }},
		{"Fields: reordered", func(e *audit.Event) { e.Fields = []string{"notes", "email"} }},
		{"Fields: none", func(e *audit.Event) { e.Fields = nil }},
		{"RequestID", func(e *audit.Event) { e.RequestID = "req-2" }},
		{"Purpose", func(e *audit.Event) { e.Purpose = "" }},
		// Length prefixes: moving a character across a member boundary changes the hash.
		{"Action/ObjectKind boundary", func(e *audit.Event) { e.Action, e.ObjectKind = "contact.readc", "ontact" }},
		{"Actor.ID/Actor.Role boundary", func(e *audit.Event) { e.Actor.ID, e.Actor.Role = "tok-1d", "po" }},
	}
	seen := map[string]string{string(want): "base"}
	for _, c := range cases {
		e := base
		c.change(&e)
		got := e.ComputeHash(prev)
		if bytes.Equal(got, want) {
			t.Errorf("changing %s does not change the hash", c.name)
		}
		if other, ok := seen[string(got)]; ok {
			t.Errorf("changing %s gives the same hash as %s", c.name, other)
		}
		seen[string(got)] = c.name
	}

	if got := base.ComputeHash(bytes.Repeat([]byte{0xff}, audit.HashSize)); bytes.Equal(got, want) {
		t.Errorf("changing the previous hash does not change the hash")
	}

	// Not members: the stored hashes themselves, and the time zone in which At is given.
	e := base
	e.PrevHash, e.Hash = []byte("other"), []byte("other")
	e.At = e.At.In(time.FixedZone("CEST", 2*60*60))
	if got := e.ComputeHash(prev); !bytes.Equal(got, want) {
		t.Errorf("hash depends on the PrevHash/Hash members or At's zone: %x, want %x", got, want)
	}
	// Deterministic.
	if got := base.ComputeHash(prev); !bytes.Equal(got, want) {
		t.Errorf("ComputeHash is not deterministic")
	}
}
