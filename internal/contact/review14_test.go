package contact_test

import (
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/keys"
)

// rotateBidx makes a new key of the bidx keyset primary in p's keysets.json and has the server
// load it (the first steps of keys rotate --bidx; no contact re-indexed yet).
func rotateBidx(t *testing.T, p *apptest.Server) {
	t.Helper()
	root, _, err := keys.OpenRootFile(p.App.Settings.RootKeyFile, false)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(p.Dir, "keysets.json")
	id, err := keys.AddKey(file, root, keys.KeysetBidx)
	if err == nil {
		err = keys.SetPrimary(file, root, keys.KeysetBidx, id)
	}
	if err == nil {
		_, err = p.App.Keys.Refresh()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestErasedAddressBouncedAfterBidxRotation (review of issue 14): an address erased before a
// rotation of the blind-index key has its erased entry under the old key; a late bounce of it
// after the rotation puts a second entry (bounced) under the new key, which Suppression returns
// first (primary key first), so staff could create the erased person again without
// recreate_erased (201 instead of 409 erased).
func TestErasedAddressBouncedAfterBidxRotation(t *testing.T) {
	p := apptest.Serve(t)
	const addr = "late.bounce@example.org"
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil); st != 200 && st != 204 {
		t.Fatalf("erase: %d", st)
	}
	rotateBidx(t, p)
	p.Bounce(addr) // a delivery report of a message sent before the erasure, arriving late
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr}, &prob); st != 409 || prob.Reason != "erased" {
		t.Errorf("create of the erased address after a bounce under the new key: %d %+v; want 409 erased", st, prob)
	}
}
