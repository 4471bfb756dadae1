package optin_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/personal"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/token"
)

// page fetches (GET) or posts (POST, the one-click body) path and returns the status and text.
func page(t *testing.T, method, url string) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = http.Post(url, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	} else {
		resp, err = http.Get(url)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// subscriber makes a contact with consent to the newsletter and returns its id.
func subscriber(t *testing.T, p *apptest.Server, email string) string {
	t.Helper()
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": email}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	return c.ID
}

// TestSealedLinkNeedsNoRow (issue 11, item 1): the unsubscribe link of a message names its
// person and purpose by itself, sealed under the installation's keys: minting it writes no row
// (so a restore of a backup older than the message cannot lose it, and no personal row is kept
// for it), its token shows no contact id, and the page, the one-click POST and the preference
// center all work from it.
func TestSealedLinkNeedsNoRow(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	a := p.App
	id := subscriber(t, p, "sealed@example.org")
	var l optin.Links
	if err := a.Store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		l, err = a.Unsubscribe.MintIn(context.Background(), tx, id, "newsletter", "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	secret := l.URL[strings.LastIndex(l.URL, "/")+1:]
	if strings.Contains(secret, id) || strings.Contains(secret, strings.ReplaceAll(id, "-", "")) || token.WellFormedLink(secret) {
		t.Fatalf("token %q: want a sealed token that shows no contact id", secret)
	}
	if n := footprint(t, a.Store, id)[personal.UnsubscribeTokens]; n != 0 {
		t.Errorf("minting a link wrote %d unsubscribe token rows; want none", n)
	}
	if st, text := page(t, "GET", p.Base+"/u/"+secret); st != 200 || !strings.Contains(text, "Stop receiving") {
		t.Errorf("GET /u/{sealed}: %d %s", st, text)
	}
	if st, text := page(t, "GET", l.Preferences); st != 200 || !strings.Contains(text, "Newsletter") {
		t.Errorf("preference center of a sealed link: %d %s", st, text)
	}
	if st, text := page(t, "POST", p.Base+"/u/"+secret); st != 200 || !strings.Contains(text, "You are unsubscribed") {
		t.Errorf("POST /u/{sealed}: %d %s", st, text)
	}
	if ok, reason := p.Check(map[string]string{"contact_id": id}, "newsletter"); ok || reason != "withdrawn" {
		t.Errorf("gate after the one-click POST: %v (%s); want withdrawn", ok, reason)
	}
}

// TestOlderRandomUnsubscribeTokenStillWorks: links mailed before links were sealed carry a random
// secret whose hash the store holds with what it names; they keep working (page, one-click,
// preference center), and once their person is erased (the row goes with them) a sealed link
// and an old one alike say they are not valid, never "You are unsubscribed".
func TestOlderRandomUnsubscribeTokenStillWorks(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	a := p.App
	id := subscriber(t, p, "older@example.org")
	secret := base64.RawURLEncoding.EncodeToString([]byte("an older random secret, 32 bytes"))
	h := sha256.Sum256([]byte("tillit:unsubscribe:" + secret)) // the rows' format (optin.hashUnsubscribe)
	var sealed optin.Links
	if err := a.Store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		if sealed, err = a.Unsubscribe.MintIn(context.Background(), tx, id, "newsletter", ""); err != nil {
			return err
		}
		return tx.InsertUnsubscribeToken(context.Background(), h[:], optin.Link{ContactID: id, Purpose: "newsletter", Kind: optin.LinkUnsubscribe}, time.Now().UTC())
	}); err != nil {
		t.Fatal(err)
	}
	if st, text := page(t, "GET", p.Base+"/u/"+secret); st != 200 || !strings.Contains(text, "Stop receiving") {
		t.Errorf("GET /u/{older}: %d %s", st, text)
	}
	if st, text := page(t, "GET", p.Base+"/p/preferences/"+secret); st != 200 || !strings.Contains(text, "Newsletter") {
		t.Errorf("preference center of an older link: %d %s", st, text)
	}
	if st, text := page(t, "POST", p.Base+"/u/"+secret); st != 200 || !strings.Contains(text, "You are unsubscribed") {
		t.Errorf("POST /u/{older}: %d %s", st, text)
	}
	if ok, reason := p.Check(map[string]string{"contact_id": id}, "newsletter"); ok || reason != "withdrawn" {
		t.Errorf("gate after the older link: %v (%s); want withdrawn", ok, reason)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+id, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	junk := strings.Repeat("A", keys.MinLinkToken+10)
	for _, s := range []string{secret, sealed.URL[strings.LastIndex(sealed.URL, "/")+1:], junk} {
		for _, m := range []string{"GET", "POST"} {
			st, text := page(t, m, p.Base+"/u/"+s)
			if st != 200 || !strings.Contains(text, "This link is not valid") || strings.Contains(text, "You are unsubscribed") || strings.Contains(text, "<form") {
				t.Errorf("%s /u/%s… after the erasure: %d %s; want \"not valid\"", m, s[:8], st, text)
			}
		}
		if st, text := page(t, "GET", p.Base+"/p/preferences/"+s); st != 200 || !strings.Contains(text, "This link is not valid") {
			t.Errorf("preferences of %s… after the erasure: %d %s", s[:8], st, text)
		}
	}
}

func footprint(t *testing.T, db store.Store, id string) map[string]int {
	t.Helper()
	var out map[string]int
	if err := db.Update(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = tx.PersonalFootprint(context.Background(), id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
