package app_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

// TestEraseIsTheWholeWorkflow: one App.Erase deletes the person, closes and forgets the request
// they sent from their address (in the same transaction), removes every mail file written to
// them or about their request, and purges the store's files: afterwards no file under the data
// directory holds their name or any address they had.
func TestEraseIsTheWholeWorkflow(t *testing.T) {
	a := apptest.New(t)
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-staff", Role: "admin"})
	c, err := a.Contacts.Create(ctx, contact.Input{Email: "ylva.old@example.org", FirstName: "Ylvali", LastName: "Sandqvist"})
	if err != nil {
		t.Fatal(err)
	}
	// Staff change the address: the replaced one is told (the AddressChanged hook).
	newAddr := "ylva.new@example.org"
	if _, err := a.Contacts.Update(ctx, c.ID, contact.Patch{Email: &newAddr}); err != nil {
		t.Fatal(err)
	}
	// She asks for a copy through the portal and has not confirmed yet.
	if err := a.Requests.Submit(context.Background(), dsr.Intake{Type: dsr.TypeAccess, Email: newAddr, Details: "everything Ylvali Sandqvist"}); err != nil {
		t.Fatal(err)
	}
	if sent, failed, err := a.Outbox.SendDue(ctx, 100); err != nil || sent != 2 || failed != 0 {
		t.Fatalf("SendDue = %d sent, %d failed, %v; want the address-change notice and the verification", sent, failed, err)
	}
	if files := mailFiles(t, a); len(files) != 2 {
		t.Fatalf("mail files before erasure: %v; want 2", files)
	}

	if err := a.Erase(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Contacts.Get(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("contact after erasure: %v; want NotFound", err)
	}
	reqs, _, err := a.Requests.List(ctx, dsr.Filter{})
	if err != nil || len(reqs) != 1 || reqs[0].State != dsr.StateRejected || reqs[0].CompletedAt == nil {
		t.Errorf("requests after erasure: %+v, %v; want the unverified one closed (rejected)", reqs, err)
	}
	if files := mailFiles(t, a); len(files) != 0 {
		t.Errorf("mail files after erasure: %v; want none", files)
	}
	if err := a.Erase(ctx, c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("erasing again: %v; want NotFound", err)
	}
	for _, needle := range []string{"Ylvali", "Sandqvist", "ylva.old@example.org", "ylva.new@example.org"} {
		err := filepath.WalkDir(a.Settings.DataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err == nil && bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(needle))) {
				t.Errorf("%s still holds %q after erasure", filepath.Base(path), needle)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mailFiles(t *testing.T, a *app.App) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(app.MailDir(a.Settings.DataDir), "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}
