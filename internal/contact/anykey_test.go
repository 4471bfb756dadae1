package contact_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
)

// TestAddressUniqueUnderTwoKeys: once a new blind-index key is primary and before the contacts
// are re-indexed, an address a contact holds under the old key is still found by it, is not
// given to a second contact (created or updated; Conflict duplicate_email naming the holder,
// which the store's unique index, seeing one key, would not refuse), and after Reindex the
// contact is found and still unique under the new key.
func TestAddressUniqueUnderTwoKeys(t *testing.T) {
	e := newEnv(t)
	ctx := staff()
	held, err := e.contacts.Create(ctx, contact.Input{Email: "held@example.se", Phone: "+46701234567"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := e.contacts.Create(ctx, contact.Input{Email: "other@example.se"})
	file := filepath.Join(e.dir, "keysets.json")
	root, _, err := keys.OpenRootFile(filepath.Join(e.dir, "root.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.AddKey(file, root, keys.KeysetBidx)
	if err == nil {
		err = keys.SetPrimary(file, root, keys.KeysetBidx, id)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.keys.Refresh(); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if c, err := e.contacts.FindByEmail(ctx, "HELD@example.se"); err != nil || c.ID != held.ID {
			t.Errorf("%s: FindByEmail = %v, %v; want %s", when, c.ID, err, held.ID)
		}
		if cs, err := e.contacts.FindByPhone(ctx, "070-123 45 67"); err != nil || len(cs) != 1 || cs[0].ID != held.ID {
			t.Errorf("%s: FindByPhone = %d contacts, %v; want %s", when, len(cs), err, held.ID)
		}
		_, err := e.contacts.Create(ctx, contact.Input{Email: "held@example.se"})
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Conflict || ae.Reason != "duplicate_email" || ae.ID != held.ID {
			t.Errorf("%s: Create of the held address = %v; want Conflict duplicate_email naming %s", when, err, held.ID)
		}
		_, err = e.contacts.Update(ctx, other.ID, contact.Patch{Email: ptr("held@example.se")})
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Conflict || ae.ID != held.ID {
			t.Errorf("%s: Update to the held address = %v; want Conflict naming %s", when, err, held.ID)
		}
	}
	check("under the old key")
	b, err := e.contacts.Reindex(context.Background(), "", 100, "keys.reindex", "bidx:1")
	if err != nil || b.Read != 2 || b.Reindexed != 2 || b.Lost != 0 {
		t.Fatalf("Reindex = %+v, %v; want both contacts read and re-indexed", b, err)
	}
	check("re-indexed")
	if b, _ := e.contacts.Reindex(context.Background(), "", 100, "keys.reindex", "bidx:1"); b.Reindexed != 0 {
		t.Errorf("a second Reindex changed %d contacts; want none", b.Reindexed)
	}
}
