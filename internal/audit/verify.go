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
	Reason      string `json:"reason,omitempty"`       // "gap", "prev_hash", "hash"
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

// Result returns the verification so far.
func (v *Verifier) Result() Verification { return v.res }

// String renders the result for the CLI.
func (r Verification) String() string {
	if r.OK {
		return fmt.Sprintf("audit log intact: %d events verified, head %d", r.Checked, r.HeadSeq)
	}
	return fmt.Sprintf("audit log broken at event %d (%s); events before it verify", r.FirstBroken, r.Reason)
}
