package audit

import (
	"bytes"
	"fmt"
)

// Verification is the result of walking the chain.
type Verification struct {
	OK          bool   `json:"ok"`
	Checked     int64  `json:"checked"`                // events read
	FirstBroken int64  `json:"first_broken,omitempty"` // sequence number of the first event that does not verify
	Reason      string `json:"reason,omitempty"`       // "gap", "prev_hash", "hash", "truncated", "unanchored", "anchor_mismatch", "anchor_forged"
	HeadSeq     int64  `json:"head_seq"`               // sequence number of the last event read
}

// Verifier checks events in stored order, one at a time, in constant memory.
type Verifier struct {
	res  Verification
	prev []byte
	done bool
}

// NewVerifier returns a Verifier expecting event 1 next.
func NewVerifier() *Verifier { return &Verifier{prev: Genesis(), res: Verification{OK: true}} }

// Add checks the next stored event. It returns false once the chain is broken (further events are
// ignored).
func (v *Verifier) Add(e Event) bool {
	if v.done {
		return false
	}
	v.res.Checked++
	want := v.res.HeadSeq + 1
	switch {
	case e.Seq != want:
		// A deleted event shows as a gap; a moved one as a number out of order.
		v.fail(want, "gap")
	case !bytes.Equal(e.PrevHash, v.prev):
		v.fail(e.Seq, "prev_hash")
	case !bytes.Equal(e.ComputeHash(v.prev), e.Hash):
		v.fail(e.Seq, "hash")
	default:
		v.res.HeadSeq = e.Seq
		v.prev = e.Hash
		return true
	}
	return false
}

func (v *Verifier) fail(seq int64, reason string) {
	v.done = true
	v.res.OK = false
	v.res.FirstBroken = seq
	v.res.Reason = reason
}

// CheckAnchor compares the chain read so far with the head recorded apart from the log (seq 0
// and the genesis hash when nothing was ever recorded). Deleting events from the end leaves a
// shorter chain that verifies on its own; against the anchor it shows as "truncated" at the
// first missing sequence number. A chain longer than its anchor ("unanchored") or ending in
// another hash ("anchor_mismatch") is broken too. Call it after the last Add.
func (v *Verifier) CheckAnchor(seq int64, hash []byte) {
	if v.done {
		return
	}
	switch {
	case v.res.HeadSeq < seq:
		v.fail(v.res.HeadSeq+1, "truncated")
	case v.res.HeadSeq > seq:
		v.fail(seq+1, "unanchored")
	case !bytes.Equal(v.prev, hash):
		v.fail(seq, "anchor_mismatch")
	}
}

// AnchorForged records that the anchor's keyed MAC does not verify ("anchor_forged", at the
// anchor's sequence number): it was written by someone without the key, for example to match a
// log whose newest events were deleted. An earlier break in the chain stands.
func (v *Verifier) AnchorForged(seq int64) {
	if !v.done {
		v.fail(seq, "anchor_forged")
	}
}

// Result returns the verification so far.
func (v *Verifier) Result() Verification { return v.res }

// String renders the result for the CLI.
func (r Verification) String() string {
	if r.OK {
		return fmt.Sprintf("audit log intact: %d events verified, head %d", r.Checked, r.HeadSeq)
	}
	return fmt.Sprintf("audit log broken at event %d (%s); events before it verify", r.FirstBroken, r.Reason)
}
