package app_test

import (
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// TestErasureIsInTheChangeStream: processors must hear of an erasure.
func TestErasureIsInTheChangeStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	var c apptest.Contact
	p.Do("POST", "/api/v1/contacts", map[string]any{"email": "gone@example.org"}, &c)
	p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil)
	p.Close()
	db, err := store.Open(t.Context(), store.Config{URL: testdb.URL(t, dir), DiskKeys: testdb.DiskKeys(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	var changes []consent.Change
	db.View(t.Context(), func(tx store.Tx) error {
		changes, err = tx.ConsentChanges(t.Context(), 0, 10)
		return err
	})
	if len(changes) != 1 || changes[0].ContactID != c.ID || changes[0].Change != "erased" {
		t.Errorf("changes = %+v; want one erased", changes)
	}
	db.Close()
	token := p.Token
	p = apptest.Serve(t, apptest.Dir(dir))
	p.Token = token
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if st := p.Do("POST", "/api/v1/consent-checks", map[string]string{"email": "GONE@example.org", "purpose": "newsletter"}, &d); st != 200 || d.Allowed || d.Reason != "suppressed" {
		t.Errorf("check of an erased address: %d %+v; want 200 suppressed", st, d)
	}
	var prob apptest.Problem
	if st := p.Do("POST", "/api/v1/consent-checks", map[string]string{"email": "never.seen@example.org", "purpose": "newsletter"}, &prob); st != 404 {
		t.Errorf("check of an unknown address: %d; want 404", st)
	}
}
