package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

// testWrappedKeys: the key store's wrapped keys page in bytewise owner order, count, and are
// replaced only while they are what the rotation read (an erasure or a new key meanwhile wins).
func testWrappedKeys(t *testing.T, s *suite) {
	ids := []string{"b-2", "a-1", "B-3", "c-4"} // "B-3" sorts before "a-1" bytewise
	s.update(t, func(tx Tx) error {
		for i, id := range ids {
			if err := tx.InsertDataKey(s.ctx, id, i+1, []byte("w-"+id), t0); err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	s.update(t, func(tx Tx) error {
		n, err := tx.CountWrappedKeys(s.ctx)
		if err != nil {
			return err
		}
		if n != 4 {
			t.Errorf("CountWrappedKeys = %d; want 4", n)
		}
		for after := ""; ; {
			page, err := tx.WrappedKeys(s.ctx, after, 3)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				return nil
			}
			for _, k := range page {
				got = append(got, fmt.Sprintf("%s/%d/%s", k.OwnerID, k.Version, k.Wrapped))
			}
			after = page[len(page)-1].OwnerID
		}
	})
	want := []string{"B-3/3/w-B-3", "a-1/2/w-a-1", "b-2/1/w-b-2", "c-4/4/w-c-4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WrappedKeys pages = %q; want %q", got, want)
	}
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			k    keys.StoredKey
			old  string
			want bool
		}{
			{keys.StoredKey{OwnerID: "a-1", Version: 2, Wrapped: []byte("new-a")}, "w-a-1", true},
			{keys.StoredKey{OwnerID: "b-2", Version: 1, Wrapped: []byte("new-b")}, "stale", false},
			{keys.StoredKey{OwnerID: "c-4", Version: 3, Wrapped: []byte("new-c")}, "w-c-4", false},
			{keys.StoredKey{OwnerID: "gone", Version: 1, Wrapped: []byte("new-g")}, "w-gone", false},
		} {
			ok, err := tx.ReplaceWrappedKey(s.ctx, c.k, []byte(c.old))
			if err != nil {
				return err
			}
			if ok != c.want {
				t.Errorf("ReplaceWrappedKey(%s v%d, old %q) = %v; want %v", c.k.OwnerID, c.k.Version, c.old, ok, c.want)
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		for id, want := range map[string]string{"a-1": "new-a", "b-2": "w-b-2", "c-4": "w-c-4"} {
			_, w, err := tx.DataKey(s.ctx, id)
			if err != nil {
				return err
			}
			if !bytes.Equal(w, []byte(want)) {
				t.Errorf("DataKey(%s) = %q; want %q", id, w, want)
			}
		}
		return nil
	})
}

// testKeyNodes: the serving processes' records are put, replaced, listed in id order with their
// keysets as put, and deleted.
func testKeyNodes(t *testing.T, s *suite) {
	sets := map[string]keys.KeysetInfo{
		"wrap": {Primary: 7, Keys: []keys.KeyInfo{{ID: 3, Status: "disabled"}, {ID: 7, Status: "enabled", Primary: true}}},
		"bidx": {Primary: 9, Keys: []keys.KeyInfo{{ID: 9, Status: "enabled", Primary: true}}},
	}
	b := keys.Node{ID: "n-b", Host: "host-b", PID: 42, Keysets: sets, SeenAt: t1}
	a := keys.Node{ID: "n-a", Host: "host-a", PID: 1, Keysets: map[string]keys.KeysetInfo{}, SeenAt: t0}
	s.update(t, func(tx Tx) error {
		for _, n := range []keys.Node{b, a, {ID: "n-a", Host: "old", PID: 5, SeenAt: t0}} {
			if err := tx.PutKeyNode(s.ctx, n); err != nil {
				return err
			}
		}
		return tx.PutKeyNode(s.ctx, a)
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.KeyNodes(s.ctx)
		if err != nil {
			return err
		}
		want := []keys.Node{a, b}
		for i := range want {
			want[i].SeenAt = want[i].SeenAt.UTC() // times are stored and read as UTC
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("KeyNodes = %+v; want %+v", got, want)
		}
		if err := tx.DeleteKeyNode(s.ctx, "n-a"); err != nil {
			return err
		}
		return tx.DeleteKeyNode(s.ctx, "none")
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.KeyNodes(s.ctx)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].ID != "n-b" {
			t.Errorf("KeyNodes after delete = %+v; want n-b alone", got)
		}
		return nil
	})
}
