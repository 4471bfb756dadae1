package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/sqlite"
	"github.com/tillit/tillit/internal/token"
)

// Every domain Store interface is met by its narrowing of a store.Store.
var (
	_ contact.Store             = store.Contacts(nil)
	_ consent.Store             = store.Consent(nil)
	_ consent.PolicyStore       = store.Policies(nil)
	_ token.Store               = store.Tokens(nil)
	_ importer.Store            = store.Importer(nil)
	_ mail.Store                = store.Mail(nil)
	_ mail.ReportStore          = store.Reports(nil)
	_ optin.Store               = store.Optin(nil)
	_ optin.UnsubscribeStore    = store.Unsubscribes(nil)
	_ campaign.Store            = store.Campaigns(nil)
	_ dsr.Store                 = store.Requests(nil)
	_ share.Store               = store.Share(nil)
	_ share.WebhookStore        = store.Webhooks(nil)
	_ governance.RetentionStore = store.Retention(nil)
	_ governance.DPAStore       = store.DPAs(nil)
	_ governance.BreachStore    = store.Breaches(nil)
	_ ledger.Store              = store.Ledger(nil)
)

func TestOpenPicksBackendFromURL(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, url := range []string{dir, "sqlite:" + dir, "sqlite://" + dir} {
		s, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close after Open(%q): %v", url, err)
		}
	}
	parts, err := store.Parts("sqlite:" + dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || filepath.Dir(parts[0].Path) != dir || parts[0].What != "the database" || parts[1].What != "the key store" {
		t.Errorf("Parts = %+v; want the database and the key store in %s", parts, dir)
	}
	for url, want := range map[string]string{"mysql://x/y": `no backend for "mysql"`, "": "names no location", "sqlite:": "names no location"} {
		if _, err := store.Open(ctx, store.Config{URL: url}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v; want an error saying %q", url, err, want)
		}
	}
}

// A write through one domain's narrowing is read through another's, in one store.
func TestScopedSharesOneStore(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Config{URL: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := &contact.Record{ID: "c-scoped", Kind: "lead", KeyVersion: 2, EmailIndex: []byte("scoped-idx"),
		Sealed: map[string][]byte{"first_name": []byte("sealed")}, Source: "api", CreatedAt: at, UpdatedAt: at, Version: 1}
	var ev audit.Event
	err = store.Contacts(s).Update(ctx, func(tx contact.Tx) error {
		if err := tx.InsertContact(ctx, rec); err != nil {
			return err
		}
		ev = audit.Event{At: at, Actor: audit.Actor{Kind: audit.ActorSystem, ID: "tillit"}, Action: "contact.create", ObjectKind: "contact", ObjectID: rec.ID}
		return tx.AppendAudit(ctx, &ev)
	})
	if err != nil {
		t.Fatalf("Contacts.Update: %v", err)
	}
	if ev.Seq != 1 {
		t.Errorf("audit event Seq %d, want 1", ev.Seq)
	}
	err = store.Ledger(s).View(ctx, func(tx ledger.Tx) error {
		got, err := s.AuditEvents(ctx, store.AuditFilter{ObjectKind: "contact", ObjectID: rec.ID, Limit: 10})
		if err != nil || len(got) != 1 || got[0].Action != "contact.create" {
			t.Errorf("AuditEvents = %+v, %v; want the one contact.create", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.ContactByID(ctx, rec.ID)
		if err != nil {
			return err
		}
		if got.Kind != "lead" || string(got.Sealed["first_name"]) != "sealed" {
			t.Errorf("ContactByID = %+v; want the record written through Contacts", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("VerifyAudit = %+v, %v; want a whole chain", v, err)
	}
	if err := store.Contacts(s).Purge(ctx); err != nil {
		t.Errorf("Purge: %v", err)
	}
}

// TestOpenDirectoryWithAColon: "sqlite:" + a directory whose name holds a colon opens that
// directory (a bare "data:2026" would be read as a URL of scheme "data").
func TestOpenDirectoryWithAColon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data:2026")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), store.Config{URL: "sqlite:" + dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	parts, err := store.Parts("sqlite:" + dir)
	if err != nil || filepath.Dir(parts[0].Path) != dir {
		t.Fatalf("Parts = %+v, %v; want files in %s", parts, err, dir)
	}
	if _, err := os.Stat(parts[0].Path); err != nil {
		t.Errorf("the data file is not in %s: %v", dir, err)
	}
}

// TestKeyValueConnectionStringIsRefused (PostgreSQL trial): a libpq key=value connection string
// given as the database URL has no URL scheme, so it was taken for a SQLite directory of that
// name (made in the working directory). It is refused, the message asking for a postgres:// URL
// (or a sqlite: path) and holding nothing of the string (it may carry a password).
func TestKeyValueConnectionStringIsRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, conn := range []string{
		"host=127.0.0.1 user=postgres dbname=test",
		"dbname=test",
		"  user=postgres password=s3cret host=db.example",
		"host=::1 port=5432 dbname=test",
		"sslmode=disable host=/run/postgresql",
	} {
		s, err := store.Open(t.Context(), store.Config{URL: conn})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): a store opened; want refused", conn)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "postgres://") || !strings.Contains(msg, "sqlite:") || strings.Contains(msg, "s3cret") || strings.Contains(msg, "127.0.0.1") {
			t.Errorf("Open(%q): %q; want a message asking for a postgres:// URL or a sqlite: path, without the string", conn, msg)
		}
		if _, err := store.Parts(conn); err == nil {
			t.Errorf("Parts(%q): no error; want refused", conn)
		}
	}
	if names, _ := filepath.Glob("*"); len(names) > 0 {
		t.Errorf("the refused strings left %q in the working directory", names)
	}
	// A directory whose name merely holds "=" is still a directory, and sqlite: takes any name.
	dir := filepath.Join(t.TempDir(), "a=b")
	for _, d := range []string{dir, "host=x"} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, url := range []string{dir, "sqlite:" + dir, "sqlite:host=x"} {
		s, err := store.Open(t.Context(), store.Config{URL: url})
		if err != nil {
			t.Errorf("Open(%q): %v", url, err)
			continue
		}
		s.Close()
	}
}
