package optin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
)

// TestSealedLinkOfAContactGoneRecordsByAddress (retrial of issue 11, F3): a sealed link carries
// the keyed suppression hash of its contact's address, so using it after its contact is gone
// from the store (a restore from a backup older than the mail) takes the address off the
// purpose's list and says so truthfully; a link sealed before links carried the hash still says
// it is not valid, as the preference center does for both.
func TestSealedLinkOfAContactGoneRecordsByAddress(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	a := p.App
	const email = "gone@example.org"
	id := subscriber(t, p, email)
	var l optin.Links
	var old string
	ctx := context.Background()
	if err := a.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		if l, err = a.Unsubscribe.MintIn(ctx, tx, id, "newsletter", ""); err != nil {
			return err
		}
		// The layout before the hash: kind 'u', length of the id, the id, the purpose.
		old, err = a.Keys.SealLink("unsubscribe", append(append([]byte{'u', byte(len(id))}, id...), "newsletter"...))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Update(ctx, func(tx store.Tx) error { // gone as in a restore: no erasure, no suppression
		return tx.DeleteContact(ctx, id)
	}); err != nil {
		t.Fatal(err)
	}
	secret := l.URL[strings.LastIndex(l.URL, "/")+1:]
	if st, text := page(t, "GET", p.Base+"/u/"+secret); st != 200 || !strings.Contains(text, "Stop receiving") {
		t.Errorf("GET /u/{sealed} of a contact gone: %d %s", st, text)
	}
	for range 2 {
		if st, text := page(t, "POST", p.Base+"/u/"+secret); st != 200 || !strings.Contains(text, "You are unsubscribed") {
			t.Errorf("POST /u/{sealed} of a contact gone: %d %s", st, text)
		}
	}
	if ok, reason := p.Check(map[string]string{"email": email}, "newsletter"); ok || reason != "withdrawn" {
		t.Errorf("gate by address after the link: %v (%s); want withdrawn", ok, reason)
	}
	for _, m := range []string{"GET", "POST"} {
		if st, text := page(t, m, p.Base+"/u/"+old); st != 200 || !strings.Contains(text, "This link is not valid") {
			t.Errorf("%s /u/{sealed without hash} of a contact gone: %d %s", m, st, text)
		}
	}
	if st, text := page(t, "GET", l.Preferences); st != 200 || !strings.Contains(text, "This link is not valid") {
		t.Errorf("preference center of a contact gone: %d %s", st, text)
	}
}
