package dsr_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
)

// newPrimaryBidxKey adds a key to the app's blind-index keyset, makes it primary and has the
// app's keyring load it, as keys rotate --bidx does before it re-indexes anything.
func newPrimaryBidxKey(t *testing.T, a *app.App) {
	t.Helper()
	root, _, err := keys.OpenRootFile(a.Settings.RootKeyFile, false)
	if err != nil {
		t.Fatal(err)
	}
	file := app.KeysetFile(a.Settings.DataDir)
	id, err := keys.AddKey(file, root, keys.KeysetBidx)
	if err == nil {
		err = keys.SetPrimary(file, root, keys.KeysetBidx, id)
	}
	if err == nil {
		_, err = a.Keys.Refresh()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// storedIndex returns the e-mail blind index request id stores.
func storedIndex(t *testing.T, w *world, id string) []byte {
	t.Helper()
	var idx []byte
	err := store.Requests(w.db).Update(context.Background(), func(tx dsr.Tx) error {
		r, err := tx.RequestByID(context.Background(), id)
		if err == nil {
			idx = r.EmailIndex
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestRequestsUnderTwoKeys: once a new blind-index key is primary, a request and its contact may
// be indexed under different keys of the set until both are re-indexed (a request filed under
// the old key, its contact re-indexed; or a request filed under the new key, its contact not yet
// re-indexed). Every comparison holds under every key: a verification link binds the request to
// the contact of its address, staff verify without address_mismatch, an erasure closes the
// person's unverified requests, and the hourly bound of links counts the address's links under
// either key. Reindex then stores every request's index under the primary key, once.
func TestRequestsUnderTwoKeys(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	asa := newContact(t, w, contact.Input{Email: "asa@example.org"})
	bo := newContact(t, w, contact.Input{Email: "bo@example.org"})
	cilla := newContact(t, w, contact.Input{Email: "cilla@example.org"})
	dag := newContact(t, w, contact.Input{Email: "dag@example.org"})
	for _, in := range []dsr.Intake{
		{Type: dsr.TypeRectification, Email: "asa@example.org"},
		{Type: dsr.TypeObjection, Email: "cilla@example.org"},
		{Type: dsr.TypeAccess, Email: "eve@example.org"},
		{Type: dsr.TypeAccess, Email: "eve@example.org"},
	} {
		if err := w.svc.Submit(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ms := w.mails(t)
	boReq, err := w.svc.Create(staff(), dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelLetter, Email: "bo@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := w.svc.List(staff(), dsr.Filter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("List = %d, %v; want 5 requests", len(all), err)
	}
	asaReq, cillaReq := all[0].ID, all[1].ID

	newPrimaryBidxKey(t, w.app)
	w.now = w.now.Add(time.Minute)
	// A request filed under the new key, its contact still under the old one.
	if err := w.svc.Submit(ctx, dsr.Intake{Type: dsr.TypeRectification, Email: "dag@example.org"}); err != nil {
		t.Fatal(err)
	}
	dagMail := w.mails(t)
	if len(dagMail) != 1 {
		t.Fatalf("mails after Dag's request = %+v; want his link", dagMail)
	}
	if res, err := w.svc.VerifyLink(ctx, link(t, dagMail[0])); err != nil || !res.Verified {
		t.Fatalf("VerifyLink of Dag's request = %+v, %v", res, err)
	}
	if v, err := w.svc.Get(staff(), w.onlyOf(t, dag.ID)); err != nil || v.ContactID != dag.ID {
		t.Errorf("Dag's request filed under the new key = %+v, %v; want bound to his contact, indexed under the old key", v.Request, err)
	}
	// A third link to eve within the hour is mailed, a fourth not: the two sent under the old key count.
	for i, want := range []bool{true, false} {
		if sent, err := w.svc.SubmitForm(ctx, dsr.Intake{Type: dsr.TypeAccess, Email: "eve@example.org"}); err != nil || sent != want {
			t.Errorf("link %d to eve under the new key: sent %v, %v; want %v", i+3, sent, err, want)
		}
	}
	w.mails(t)

	b, err := w.contacts.Reindex(ctx, "", 100, "keys.reindex", "bidx:test")
	if err != nil || b.Reindexed != 4 {
		t.Fatalf("contacts Reindex = %+v, %v; want the 4 contacts re-indexed", b, err)
	}
	// Requests filed under the old key, their contacts re-indexed under the new one.
	if res, err := w.svc.VerifyLink(ctx, link(t, ms[0])); err != nil || !res.Verified {
		t.Fatalf("VerifyLink of Åsa's request = %+v, %v", res, err)
	}
	if v, err := w.svc.Get(staff(), asaReq); err != nil || v.ContactID != asa.ID {
		t.Errorf("Åsa's request filed under the old key = %+v, %v; want bound to %s", v.Request, err, asa.ID)
	}
	if v, err := w.svc.Verify(staff(), boReq.ID, bo.ID, "signed letter"); err != nil || v.ContactID != bo.ID {
		t.Errorf("Verify of Bo's request filed under the old key = %+v, %v; want bound, not address_mismatch", v.Request, err)
	}
	if err := w.svc.EraseContact(staff(), cilla.ID); err != nil {
		t.Fatal(err)
	}
	if v, err := w.svc.Get(staff(), cillaReq); err != nil || v.State != dsr.StateRejected {
		t.Errorf("Cilla's unverified request after her erasure = %+v, %v; want rejected (closed by the erasure)", v.Request, err)
	}

	rb, err := w.svc.Reindex(ctx, "", 100, "keys.reindex", "bidx:test")
	// Read: the 8 requests. Re-indexed: those with an address under the old key (Åsa's, Bo's,
	// eve's first two); Cilla's lost its index with its key, Dag's and eve's later ones are new.
	if err != nil || rb.Read != 8 || rb.Reindexed != 4 || rb.Lost != 0 || rb.Next == "" {
		t.Errorf("requests Reindex = %+v, %v; want 8 read, 4 re-indexed, none lost", rb, err)
	}
	want, err := w.app.Keys.BlindIndex(keys.IndexEmail, 1, "bo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got := storedIndex(t, w, boReq.ID); !bytes.Equal(got, want) {
		t.Errorf("Bo's request's stored index after Reindex = %x; want the primary key's %x", got, want)
	}
	if rb, err := w.svc.Reindex(ctx, "", 100, "keys.reindex", "bidx:test"); err != nil || rb.Reindexed != 0 {
		t.Errorf("a second Reindex = %+v, %v; want none changed", rb, err)
	}
	if rb, err := w.svc.Reindex(ctx, rb.Next, 100, "keys.reindex", "bidx:test"); err != nil || rb.Read != 0 || rb.Next != "" {
		t.Errorf("Reindex after the last = %+v, %v; want nothing read", rb, err)
	}
}

// onlyOf returns the id of the one request bound to contactID ("", an error, when none is).
func (w *world) onlyOf(t *testing.T, contactID string) string {
	t.Helper()
	vs, _, err := w.svc.List(staff(), dsr.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, v := range vs {
		if v.ContactID == contactID {
			if id != "" {
				t.Fatalf("two requests bound to %s", contactID)
			}
			id = v.ID
		}
	}
	if id == "" {
		t.Errorf("no request bound to %s", contactID)
	}
	return id
}
