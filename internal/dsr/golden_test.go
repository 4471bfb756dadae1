package dsr_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestErasureReceiptGolden pins the erasure receipt, its holdings (table, rows, what erasure did,
// the words the person reads) and its text, for a person with a former address, a consent, an
// answered access request with a bundle waiting and an erasure request. The words come from the
// personal-data register: a change to them shows here.
func TestErasureReceiptGolden(t *testing.T) {
	w := newWorld(t)
	ctx := staff()
	c := newContact(t, w, contact.Input{Email: "ingrid.old@example.org", FirstName: "Ingrid", LastName: "Berg", Phone: "+46701234567", Notes: "met at the fair"})
	if _, err := w.contacts.Update(ctx, c.ID, contact.Patch{Email: strPtr("ingrid@example.org")}); err != nil {
		t.Fatal(err)
	}
	give(t, w, c.ID, "newsletter")
	access := inProgress(t, w, dsr.TypeAccess, "ingrid@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, access.ID, dsr.Completion{Note: "bundle sent"}); err != nil {
		t.Fatal(err)
	}
	r := inProgress(t, w, dsr.TypeErasure, "ingrid@example.org", c.ID)
	if _, err := w.svc.Complete(ctx, r.ID, dsr.Completion{Note: "no legal hold"}); err != nil {
		t.Fatal(err)
	}
	rc, err := w.svc.Receipt(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	holdings, err := json.MarshalIndent(struct {
		Erased []dsr.Holding `json:"erased"`
		Kept   []dsr.Holding `json:"kept"`
	}{rc.Erased, rc.Kept}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "erasure-receipt-holdings.golden.json", append(holdings, '\n'))
	golden(t, "erasure-receipt.golden.txt", []byte(strings.ReplaceAll(rc.Text, r.ID, "REQUEST-ID")))
}

// TestBundleGolden pins the access bundle's manifest (each file's name, media type, size,
// SHA-256 and description, so every file's bytes) and its README.txt.
func TestBundleGolden(t *testing.T) {
	files, _, _ := unzip(t, richBundle(t))
	golden(t, "bundle-manifest.golden.json", files["manifest.json"].data)
	golden(t, "bundle-readme.golden.txt", files["README.txt"].data)
}
