package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

func TestEraseLeavesNoPlaintextAndSuppresses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	secrets := map[string]any{
		"email": "Ingrid.Marklund@Example.NET", "first_name": "Ingrid", "last_name": "Marklund",
		"phone": "+46 70 123 45 67", "company": "Fjällräven Konsult", "notes": "met at the Umeå fair",
		"address": map[string]any{"street": "Storgatan 12", "city": "Umeå", "postal_code": "90326", "country": "SE"},
	}
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", secrets, &c); st != 201 {
		t.Fatalf("create: status %d", st)
	}
	var keep apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": "other.person@example.net", "first_name": "Kvarstående"}, &keep); st != 201 {
		t.Fatalf("create: status %d", st)
	}
	if st := p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form", "ip": "198.51.100.77", "user_agent": "Mozilla/5.0 IngridBrowser"}, nil); st != 201 {
		t.Fatalf("consent: status %d", st)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil); st != 204 {
		t.Fatalf("erase: status %d; want 204", st)
	}
	var prob apptest.Problem
	if st := p.Do("GET", "/api/v1/contacts/"+c.ID, nil, &prob); st != 404 || prob.Code != "not_found" {
		t.Errorf("get after erase: %d %+v; want 404 not_found", st, prob)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil); st != 404 {
		t.Errorf("second erase: %d; want 404", st)
	}
	var kept apptest.Contact
	if st := p.Do("GET", "/api/v1/contacts/"+strings.ToUpper(keep.ID), nil, &kept); st != 200 || kept.FirstName != "Kvarstående" {
		t.Errorf("the other contact after erasure: %d %+v", st, kept)
	}
	var v struct {
		OK bool `json:"ok"`
	}
	if st := p.Do("GET", "/api/v1/audit/verify", nil, &v); st != 200 || !v.OK {
		t.Errorf("audit verify after erasure: %d %+v", st, v)
	}
	p.Close()
	for _, f := range append(testdb.Parts(t, dir), filepath.Join(dir, "root.key"), filepath.Join(dir, "keysets.json")) { // tillit.db and keys.db on SQLite
		if st, err := os.Stat(f); err != nil {
			t.Errorf("%s: %v", f, err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v; want 0600", f, st.Mode().Perm())
		}
	}
	apptest.AssertNoPlaintext(t, dir, []string{"ingrid.marklund@example.net", "Ingrid", "Marklund", "+46701234567", "Fjällräven", "Konsult", "Umeå", "Storgatan", "90326", "198.51.100.77", "IngridBrowser"})

	// The suppression hash keeps the erased address out of later imports.
	rep := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "back.csv", "Email Address,First Name,OPTIN_TIME\ningrid.marklund@example.net,Ingrid,2025-01-01 00:00:00\n"))
	if rep.Suppressed != 1 || rep.Created != 0 {
		t.Errorf("import of the erased address %+v; want it suppressed", rep)
	}
}

// TestEraseSuppressesFormerAddresses: found by a new-user trial, an address changed by PATCH
// before erasure was not suppressed, so an old list brought the person back.
func TestEraseSuppressesFormerAddresses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "s.csv", "Email Address,First Name,OPTIN_TIME\nold.addr@example.org,Vera,\n"))
	p := apptest.Serve(t, apptest.Dir(dir))
	var l apptest.List
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "old.addr@example.org"}, &l)
	id := l.Items[0].ID
	if st := p.Do("PATCH", "/api/v1/contacts/"+id, map[string]any{"email": "new.addr@example.org"}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	if st := p.Do("DELETE", "/api/v1/contacts/"+id, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	p.Close()
	rep := apptest.ImportDir(t, dir, map[string]string{"format": "mailchimp"}, apptest.WriteFile(t, "again.csv", "Email Address,First Name,OPTIN_TIME\nold.addr@example.org,Vera,\nnew.addr@example.org,Vera,\n"))
	if rep.Created != 0 || rep.Suppressed != 2 {
		t.Errorf("re-import of both addresses after erasure: %+v; want both suppressed", rep)
	}
}
