package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/dsr"
)

// testRequestsUnderEveryKey: the lookups of requests by an address take its index under each key
// of the blind-index keyset (keys rotate --bidx) and match any: UnverifiedRequestsFrom returns
// the unbound requests indexed under any of them, in id order, LinksSentSince counts the links of
// requests indexed under any of them; none given matches nothing. A request re-indexed by
// UpdateRequest (dsr.Service.Reindex) is then found under its new index alone.
func testRequestsUnderEveryKey(t *testing.T, s *suite) {
	oldIdx, newIdx := []byte("rk-idx-old"), []byte("rk-idx-new")
	a := request("rk-1", dsr.TypeAccess, dsr.StateVerifying, dsr.ChannelPortal, t0)
	b := request("rk-2", dsr.TypeObjection, dsr.StateVerifying, dsr.ChannelPortal, t1)
	c := request("rk-3", dsr.TypeAccess, dsr.StateInProgress, dsr.ChannelPortal, t0)
	d := request("rk-4", dsr.TypeAccess, dsr.StateVerifying, dsr.ChannelPortal, t0)
	a.EmailIndex, b.EmailIndex, c.EmailIndex = oldIdx, newIdx, oldIdx
	c.ContactID = "c-rk"
	s.update(t, func(tx Tx) error {
		for _, r := range []*dsr.Record{d, c, b, a} {
			if err := tx.InsertRequest(s.ctx, r); err != nil {
				return err
			}
		}
		for i, r := range []*dsr.Record{a, b, c, d} {
			at := []time.Time{t0, t1, t1, t1}[i]
			tok := dsr.Token{Hash: []byte("rk-tok-" + r.ID), RequestID: r.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
			if err := tx.InsertRequestToken(s.ctx, tok); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		for _, tc := range []struct {
			name string
			idx  [][]byte
			want []string
		}{
			{"new, old", [][]byte{newIdx, oldIdx}, []string{"rk-1", "rk-2"}},
			{"old", [][]byte{oldIdx}, []string{"rk-1"}},
			{"none matching", [][]byte{[]byte("rk-none")}, nil},
			{"none given", nil, nil},
		} {
			got, err := tx.UnverifiedRequestsFrom(s.ctx, tc.idx...)
			if err != nil {
				return err
			}
			if !slices.Equal(requestIDs(got), tc.want) {
				t.Errorf("UnverifiedRequestsFrom(%s) = %v; want %v", tc.name, requestIDs(got), tc.want)
			}
		}
		for _, tc := range []struct {
			name  string
			idx   [][]byte
			since time.Time
			want  int
		}{
			{"new, old", [][]byte{newIdx, oldIdx}, t0, 3},
			{"new, old, since t1", [][]byte{oldIdx, newIdx}, t1, 2},
			{"new", [][]byte{newIdx}, t0, 1},
			{"none given", nil, t0, 0},
		} {
			if n, err := tx.LinksSentSince(s.ctx, tc.idx, tc.since); err != nil || n != tc.want {
				t.Errorf("LinksSentSince(%s) = %d, %v; want %d", tc.name, n, err, tc.want)
			}
		}
		a.EmailIndex = newIdx
		if err := tx.UpdateRequest(s.ctx, a); err != nil {
			return err
		}
		if got, err := tx.UnverifiedRequestsFrom(s.ctx, newIdx); err != nil || !slices.Equal(requestIDs(got), []string{"rk-1", "rk-2"}) {
			t.Errorf("UnverifiedRequestsFrom(new) after re-indexing rk-1 = %v, %v; want rk-1, rk-2", requestIDs(got), err)
		}
		if got, err := tx.RequestByID(s.ctx, "rk-1"); err == nil {
			checkRequest(t, got, a)
		} else {
			return err
		}
		return nil
	})
}
