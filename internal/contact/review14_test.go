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

// TestCleanedRowImportedBeforeReindex (review of issue 14): once a new blind-index key is
// primary and before keys rotate --bidx has re-indexed a contact, an import's cleaned row (a hard
// bounce) for the contact's address went on the suppression list under the new key's hash,
// while the consent gate matches the hash the contact stores (the old key's): the gate kept
// allowing marketing to the bounced address until the re-index reached the contact, or forever
// when the rotation was stopped. A bounce report, by contrast, files it under the stored hash.
func TestCleanedRowImportedBeforeReindex(t *testing.T) {
	p := apptest.Serve(t)
	const addr = "bounced.in.window@example.org"
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	rotateBidx(t, p)
	p.Post("/api/v1/imports?format=mailchimp", "text/csv", "Email Address,CLEAN_TIME\n"+addr+",2025-01-01 10:00:00\n")
	if ok, reason := p.Check(map[string]string{"contact_id": c.ID}, "newsletter"); ok || reason != "suppressed" {
		t.Errorf("gate for the contact after its address was imported as cleaned: %v %s; want refused, suppressed", ok, reason)
	}
}
