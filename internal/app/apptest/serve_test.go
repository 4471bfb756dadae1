package apptest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// storeOf returns the files of dir's store (on SQLite) and whether its database holds a Tillit
// store (on PostgreSQL), as tillit's start-up finds them.
func storeOf(t *testing.T, dir string) ([]store.Part, bool) {
	t.Helper()
	u := testdb.URL(t, dir)
	parts, err := store.Parts(u)
	if err != nil {
		t.Fatal(err)
	}
	inDB, err := store.Exists(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	return parts, inDB
}

// TestServe: a Server answers over HTTP with its admin token and refuses a request without one,
// its base URL is the links' base, and a second Server on the same directory after Close opens
// the same store and mints no second admin token.
func TestServe(t *testing.T) {
	p := apptest.Serve(t)
	if !strings.HasPrefix(p.Token, "tlt_") || p.App.Settings.BaseURL != p.Base || !strings.HasPrefix(p.Base, "http://127.0.0.1:") {
		t.Fatalf("token %q, base URL %q, base %q; want a token and the server's own URL", p.Token, p.App.Settings.BaseURL, p.Base)
	}
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": "serve.test@example.org"}, &c); st != 201 || c.ID == "" {
		t.Fatalf("create: %d %+v", st, c)
	}
	var prob apptest.Problem
	if st := p.DoAs("", "GET", "/api/v1/contacts/"+c.ID, nil, &prob); st != 401 || prob.Code != "unauthenticated" {
		t.Errorf("no token: %d %+v; want 401", st, prob)
	}
	if parts, inDB := storeOf(t, p.Dir); !inDB && len(parts) == 0 {
		t.Errorf("the data directory has no store")
	} else {
		for _, part := range parts {
			if _, err := os.Stat(part.Path); err != nil {
				t.Errorf("the data directory lacks %s: %v", part.What, err)
			}
		}
	}
	p.Close()
	q := apptest.Serve(t, apptest.Dir(p.Dir), apptest.Env(map[string]string{"TILLIT_DEFAULT_REGION": "se"}))
	if q.Token != "" || q.App.Settings.DefaultRegion != "SE" {
		t.Errorf("restart: token %q, region %q; want no second admin token and the environment's region", q.Token, q.App.Settings.DefaultRegion)
	}
	q.Token = p.Token
	var again apptest.Contact
	if st := q.Do("GET", "/api/v1/contacts/"+c.ID, nil, &again); st != 200 || again.Email != "serve.test@example.org" {
		t.Errorf("after restart: %d %+v; want the contact", st, again)
	}
}
