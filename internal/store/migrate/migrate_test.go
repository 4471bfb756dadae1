package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/migrate"
	"github.com/tillit/tillit/internal/store/postgres"
	"github.com/tillit/tillit/internal/store/sqlite"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
	"github.com/tillit/tillit/internal/token"
)

// staff is the actor of the test's reads and writes.
func staff() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "tok-staff", Role: "admin"})
}

// pg returns a URL for a fresh schema of the test process's database (pgtest.FreshSchema), and
// an admin connection; both schemas are dropped when the test ends. Without
// TILLIT_TEST_POSTGRES_URL the test is skipped.
func pg(t *testing.T) (string, *sql.DB) {
	t.Helper()
	_, url := pgtest.FreshSchema(t, "tm_")
	return url, pgtest.Open(t)
}

// schemaOf is the data schema a URL from pg names.
func schemaOf(url string) string { return pgtest.SchemaOf(url) }

// installation is a SQLite installation built through the app, with what it holds as the app
// reads it back.
type installation struct {
	dir  string
	mac  func(int64, []byte) ([]byte, error)
	disk [][]byte // the disk keys its SQLite files are encrypted under
	seen snapshot
}

// snapshot is what an app reads back of an installation: every contact decrypted, each one's
// consent history, every request and processor.
type snapshot struct {
	Contacts   []contact.Contact
	Consents   map[string]consent.Ledger
	Requests   []dsr.View
	Processors []share.Processor
	Purposes   []consent.Purpose
}

// build makes an installation with real data of most kinds: the Mailchimp fixtures imported
// (contacts, consent events with their proof, suppressions, list unsubscribes, the import's
// record), contacts made by staff with every field, a processor with a disclosure, requests, a
// token, an erasure (ledger, suppression); contacts extra contacts more.
func build(t *testing.T, extra int) installation {
	t.Helper()
	a := apptest.New(t)
	ctx := staff()
	fixtures := apptest.ExternalDir(t, "mailchimp-ghost")
	apptest.Import(t, a, map[string]string{"format": "mailchimp"},
		filepath.Join(fixtures, "subscribed.csv"), filepath.Join(fixtures, "unsubscribed.csv"), filepath.Join(fixtures, "cleaned.csv"))
	var ids []string
	for i := range 5 + extra {
		c, err := a.Contacts.Create(ctx, contact.Input{Email: fmt.Sprintf("person%d@example.org", i), FirstName: "Åsa", LastName: fmt.Sprintf("Ström %d", i),
			Phone: "+46 70 123 45 67", Company: "Kvarn AB", Title: "Ägare", Address: &contact.Address{Street: "Storgatan 1", City: "Umeå", PostalCode: "903 25", Country: "SE"},
			Birthday: "1980-02-29", Notes: "ringer helst på förmiddagen", Custom: map[string]string{"tröja": "L"}, Tags: []string{"mässa"}, ExternalIDs: map[string]string{"crm": fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := a.Consent.Record(ctx, consent.Event{ContactID: ids[0], Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm, Evidence: consent.Evidence{IP: "192.0.2.7", FormID: "signup"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Consent.Record(ctx, consent.Event{ContactID: ids[1], Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodStaff, Evidence: consent.Evidence{Note: "telefonsamtal 3 mars"}}); err != nil {
		t.Fatal(err)
	}
	ptr := func(s string) *string { return &s }
	role, signed := share.RoleProcessor, time.Now().UTC().AddDate(0, -1, 0)
	status := share.DPASigned
	if _, err := a.Share.Create(ctx, share.Input{ID: ptr("mailer"), Name: ptr("Mailer AB"), Role: &role, Purposes: &[]string{"newsletter"},
		DataCategories: &[]string{"email"}, Country: ptr("se"), DPAStatus: &status, DPASignedAt: &signed}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Share.Disclose(ctx, share.Request{ContactID: ids[0], ProcessorID: "mailer", Purpose: "newsletter", Fields: []string{"email"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Requests.Create(ctx, dsr.Input{Type: dsr.TypeAccess, Channel: dsr.ChannelLetter, Email: "person2@example.org", Details: "allt ni har om mig"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Tokens.CreateFor(ctx, token.RoleAgent, "crm sync", ""); err != nil {
		t.Fatal(err)
	}
	if err := a.Erase(ctx, ids[3]); err != nil {
		t.Fatal(err)
	}
	inst := installation{dir: a.Settings.DataDir, mac: a.Keys.AnchorMAC, disk: testdb.DiskKeys(t, a.Settings.DataDir), seen: read(t, a)}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return inst
}

// read reads back what an app holds (each read audited, as every read is).
func read(t *testing.T, a *app.App) snapshot {
	t.Helper()
	ctx := staff()
	s := snapshot{Consents: map[string]consent.Ledger{}}
	for cursor := ""; ; {
		page, next, err := a.Contacts.List(ctx, "", cursor, 500)
		if err != nil {
			t.Fatal(err)
		}
		s.Contacts = append(s.Contacts, page...)
		if cursor = next; next == "" {
			break
		}
	}
	for _, c := range s.Contacts {
		l, err := a.Consent.History(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.Consents[c.ID] = l
	}
	var err error
	if s.Requests, _, err = a.Requests.List(ctx, dsr.Filter{Limit: 500}); err != nil {
		t.Fatal(err)
	}
	if s.Processors, err = a.Share.List(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Purposes, err = a.Consent.Purposes(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// openPG builds the app on the PostgreSQL store url names with the installation's key files,
// as tillit --data dir --database-url url does.
func openPG(t *testing.T, dir, url string) *app.App {
	t.Helper()
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: app.KeysetFile(dir)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Config{URL: url, AnchorMAC: kr.AnchorMAC})
	if err != nil {
		t.Fatal(err)
	}
	s := config.Default()
	s.DataDir, s.BaseURL, s.MailFrom = dir, apptest.BaseURL, apptest.MailFrom
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Config{Settings: s, Transport: app.Files(s), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, db, kr)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// sqliteConn opens the installation's files as SQLite (no Tillit code but the files' key): for the tests'
// own counts and for edits the app would never make.
func sqliteConn(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sqlite.OpenFiles(dir, testdb.DiskKeys(t, dir)) // under the disk key: SQLite does the rest
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sqliteCounts counts the rows of every table of both files but schema_migrations.
func sqliteCounts(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	db := sqliteConn(t, dir)
	defer db.Close()
	out := map[string]int64{}
	for _, schema := range []string{"main", "keystore"} {
		rows, err := db.Query("SELECT name FROM " + schema + ".sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name <> 'schema_migrations'")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		rows.Close()
		for _, n := range names {
			var c int64
			if err := db.QueryRow("SELECT count(*) FROM " + schema + "." + n).Scan(&c); err != nil {
				t.Fatal(err)
			}
			if schema == "keystore" {
				n = "keystore." + n
			}
			out[n] = c
		}
	}
	return out
}

// pgCount counts the rows of a table ("contacts", "keystore.contact_keys") of url's schemas.
func pgCount(t *testing.T, admin *sql.DB, url, table string) int64 {
	t.Helper()
	schema := schemaOf(url)
	if rest, ok := strings.CutPrefix(table, "keystore."); ok {
		schema, table = schema+"_keys", rest
	}
	var n int64
	if err := admin.QueryRow(`SELECT count(*) FROM "` + schema + `"."` + table + `"`).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestRoundTrip moves an installation built through the app to PostgreSQL in small batches and
// reads it back through the app on the PostgreSQL store with the same key files: every
// contact decrypts to what it was, every consent history, request, processor and purpose is
// the same, each table holds as many rows as in SQLite, the audit chain verifies, and the store
// takes new writes (identity columns continue after the rows copied).
func TestRoundTrip(t *testing.T) {
	url, admin := pg(t)
	inst := build(t, 20)
	want := sqliteCounts(t, inst.dir)
	var progress bytes.Buffer
	sum, err := migrate.Run(context.Background(), migrate.Options{From: "sqlite:" + inst.dir, To: url, AnchorMAC: inst.mac, DiskKeys: inst.disk, Batch: 7, Progress: &progress})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if !sum.Verified || !sum.Audit.OK || sum.Resumed {
		t.Errorf("summary %+v; want verified, audit OK, not resumed", sum)
	}
	got := map[string]int64{}
	var total int64
	for _, tc := range sum.Tables {
		got[tc.Table] = tc.Rows
		total += tc.Rows
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary tables %v;\nwant the SQLite counts %v", got, want)
	}
	if sum.Rows != total || sum.Copied != total {
		t.Errorf("summary rows %d, copied %d; want both %d", sum.Rows, sum.Copied, total)
	}
	for table, n := range want {
		if c := pgCount(t, admin, url, table); c != n {
			t.Errorf("PostgreSQL %s: %d rows; want %d", table, c, n)
		}
	}
	for _, table := range []string{"contacts", "consent_events", "audit_events", "keystore.contact_keys", "suppressions", "erasure_ledger", "disclosures", "requests", "tokens"} {
		if want[table] == 0 {
			t.Errorf("the installation has no %s rows: the round trip does not cover that table", table)
		}
	}
	if line := fmt.Sprintf("contacts: %d/%d rows (100%%)\n", want["contacts"], want["contacts"]); !strings.Contains(progress.String(), line) {
		t.Errorf("progress:\n%s\nwant a line for contacts when whole", progress.String())
	}

	a := openPG(t, inst.dir, url)
	after := read(t, a)
	if !reflect.DeepEqual(after, inst.seen) {
		t.Errorf("read back from PostgreSQL:\n%+v\nwant what SQLite held:\n%+v", after, inst.seen)
	}
	if v, err := a.Store.VerifyAudit(context.Background()); err != nil || !v.OK {
		t.Errorf("VerifyAudit after the reads: %+v, %v", v, err)
	}
	// New rows: a consent event (identity column seq) and a contact with its key.
	c, err := a.Contacts.Create(staff(), contact.Input{Email: "ny@example.org", FirstName: "Ny"})
	if err != nil {
		t.Fatalf("create after the move: %v", err)
	}
	e, err := a.Consent.Record(staff(), consent.Event{ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodWebForm, Evidence: consent.Evidence{IP: "192.0.2.7", FormID: "signup"}})
	if err != nil {
		t.Fatalf("consent after the move: %v", err)
	}
	var seq int64
	if err := admin.QueryRow(`SELECT seq FROM "`+schemaOf(url)+`".consent_events WHERE id = $1`, e.ID).Scan(&seq); err != nil || seq != want["consent_events"]+1 {
		t.Errorf("the new consent event's seq = %d, %v; want %d, after the %d copied", seq, err, want["consent_events"]+1, want["consent_events"])
	}
	if v, err := a.Store.VerifyAudit(context.Background()); err != nil || !v.OK {
		t.Errorf("VerifyAudit after new writes: %+v, %v", v, err)
	}
}

// errStop interrupts a run, as a kill would.
var errStop = errors.New("stopped by the test")

// TestResumeAfterInterruption interrupts a copy after several numbers of batches, each time
// running it again from where it stood: the last run finishes it, nothing is copied twice (the
// rows copied over all runs add up to the rows there are) and the result verifies.
func TestResumeAfterInterruption(t *testing.T) {
	url, admin := pg(t)
	inst := build(t, 30)
	want := sqliteCounts(t, inst.dir)
	var copied int64
	var tables []string
	for _, stopAfter := range []int{1, 4, 9, 25} {
		batches := 0
		sum, err := migrate.Run(context.Background(), migrate.Options{From: inst.dir, To: url, AnchorMAC: inst.mac, DiskKeys: inst.disk, Batch: 5,
			AfterBatch: func(table string, rows int64) error {
				if batches++; batches == stopAfter {
					tables = append(tables, fmt.Sprintf("%s@%d", table, rows))
					return errStop
				}
				return nil
			}})
		if !errors.Is(err, errStop) {
			t.Fatalf("run stopped after %d batches: %v; want errStop", stopAfter, err)
		}
		copied += sum.Copied
	}
	t.Logf("interrupted at %v", tables)
	var last int64
	if err := admin.QueryRow(`SELECT sum(rows) FROM "` + schemaOf(url) + `".migrate_progress`).Scan(&last); err != nil || last != copied {
		t.Fatalf("migrate_progress records %d rows, %v; the interrupted runs copied %d", last, err, copied)
	}
	sum, err := migrate.Run(context.Background(), migrate.Options{From: inst.dir, To: url, AnchorMAC: inst.mac, DiskKeys: inst.disk, Batch: 5})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range want {
		total += n
	}
	if !sum.Verified || !sum.Resumed || sum.Rows != total || copied+sum.Copied != total {
		t.Errorf("final run: %+v; want verified, resumed, %d rows, %d copied by it (%d before)", sum, total, total-copied, copied)
	}
	for table, n := range want {
		if c := pgCount(t, admin, url, table); c != n {
			t.Errorf("PostgreSQL %s: %d rows; want %d", table, c, n)
		}
	}
	// Run again: the copy is finished; nothing is copied, and it verifies again.
	again, err := migrate.Run(context.Background(), migrate.Options{From: inst.dir, To: url, AnchorMAC: inst.mac, DiskKeys: inst.disk})
	if err != nil || again.Copied != 0 || !again.Verified || again.Rows != total {
		t.Errorf("a run after the copy finished: %+v, %v; want nothing copied, verified", again, err)
	}
	a := openPG(t, inst.dir, url)
	if after := read(t, a); !reflect.DeepEqual(after, inst.seen) {
		t.Errorf("read back after the resumed copy differs from what SQLite held")
	}
}

// TestRefusals: each case leaves the destination without a copied row (or as it was), with
// an error that says what to do.
func TestRefusals(t *testing.T) {
	pg(t) // skips without a server
	inst := build(t, 0)
	other := build(t, 0)
	run := func(t *testing.T, from installation, url string, hook func(string, int64) error) error {
		_, err := migrate.Run(context.Background(), migrate.Options{From: "sqlite:" + from.dir, To: url, AnchorMAC: from.mac, DiskKeys: from.disk, Batch: 5, AfterBatch: hook})
		return err
	}
	stopAt := func(n int) func(string, int64) error {
		batches := 0
		return func(string, int64) error {
			if batches++; batches == n {
				return errStop
			}
			return nil
		}
	}
	wantErr := func(t *testing.T, err error, words ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("Run succeeded; want an error saying %q", words)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q; want it to say %q", err, w)
			}
		}
	}

	t.Run("source in use", func(t *testing.T) {
		url, admin := pg(t)
		db, err := store.Open(context.Background(), store.Config{URL: inst.dir, AnchorMAC: inst.mac, DiskKeys: inst.disk})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		wantErr(t, run(t, inst, url, nil), "in use by another process", "stop tillit serve")
		var exists bool
		admin.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schemaOf(url)).Scan(&exists)
		if exists {
			t.Errorf("schema %s was created; want nothing written to the destination", schemaOf(url))
		}
	})

	t.Run("destination in use", func(t *testing.T) {
		url, admin := pg(t)
		conn, err := admin.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_lock($1)", postgres.WriterLock(schemaOf(url))); err != nil {
			t.Fatal(err)
		}
		wantErr(t, run(t, inst, url, nil), "is being written to")
	})

	t.Run("destination holds another store", func(t *testing.T) {
		url, admin := pg(t)
		// A server started on the schema first, with keys of its own: the default purpose,
		// its audit events.
		a := openPG(t, other.dir, url)
		a.Close()
		before := pgCount(t, admin, url, "audit_events")
		wantErr(t, run(t, inst, url, nil), "already holds a store", "audit_events (", "drop schemas")
		if n := pgCount(t, admin, url, "audit_events"); n != before {
			t.Errorf("audit_events %d rows after the refusal; want %d as before", n, before)
		}
		if n := pgCount(t, admin, url, "contacts"); n != 0 {
			t.Errorf("contacts %d rows after the refusal; want none copied", n)
		}
	})

	t.Run("another installation's interrupted copy", func(t *testing.T) {
		url, _ := pg(t)
		if err := run(t, other, url, stopAt(3)); !errors.Is(err, errStop) {
			t.Fatal(err)
		}
		wantErr(t, run(t, inst, url, nil), "different installation")
	})

	t.Run("the source changed since the interrupted copy", func(t *testing.T) {
		src := build(t, 0)
		url, _ := pg(t)
		if err := run(t, src, url, stopAt(3)); !errors.Is(err, errStop) {
			t.Fatal(err)
		}
		a := apptest.New(t, apptest.Dir(src.dir))
		if _, err := a.Contacts.Create(staff(), contact.Input{Email: "later@example.org"}); err != nil {
			t.Fatal(err)
		}
		a.Close()
		wantErr(t, run(t, src, url, nil), "before its SQLite store last changed", "drop schemas")
	})

	t.Run("source at an older version", func(t *testing.T) {
		src := build(t, 0)
		url, _ := pg(t)
		db := sqliteConn(t, src.dir)
		last := postgres.Versions()[len(postgres.Versions())-1]
		if _, err := db.Exec("DELETE FROM schema_migrations WHERE version = ?", last); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantErr(t, run(t, src, url, nil), fmt.Sprintf("schema version %d and this tillit's is %d", last-1, last), "upgrade the store first")
		// Refused before anything opened the store: it was not upgraded behind the user's back.
		db = sqliteConn(t, src.dir)
		var n int
		db.QueryRow("SELECT count(*) FROM schema_migrations WHERE version = ?", last).Scan(&n)
		if n != 0 {
			t.Errorf("migration %d was applied to the source by the refused run", last)
		}
	})

	t.Run("destination at a newer version", func(t *testing.T) {
		url, admin := pg(t)
		db, err := store.Open(context.Background(), store.Config{URL: url, AnchorMAC: inst.mac, DiskKeys: inst.disk})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if _, err := admin.Exec(`INSERT INTO "`+schemaOf(url)+`".schema_migrations (version, applied_at) VALUES (9999, $1)`, time.Now().UTC().Format(time.RFC3339)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, run(t, inst, url, nil), "at schema version 9999, newer than this tillit's")
	})

	t.Run("table missing in the destination", func(t *testing.T) {
		src := build(t, 0)
		url, admin := pg(t)
		db := sqliteConn(t, src.dir)
		if _, err := db.Exec("CREATE TABLE keystore.spare_keys (id TEXT PRIMARY KEY, k BLOB) STRICT"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantErr(t, run(t, src, url, nil), "table keystore.spare_keys of the SQLite store does not exist in the destination")
		if n := pgCount(t, admin, url, "contacts"); n != 0 {
			t.Errorf("contacts %d rows after the refusal; want none copied", n)
		}
	})

	t.Run("column missing in the destination", func(t *testing.T) {
		src := build(t, 0)
		url, _ := pg(t)
		db := sqliteConn(t, src.dir)
		if _, err := db.Exec("ALTER TABLE contacts ADD COLUMN nickname_ct BLOB"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantErr(t, run(t, src, url, nil), "column nickname_ct of table contacts of the SQLite store does not exist in the destination")
	})

	t.Run("broken audit chain", func(t *testing.T) {
		src := build(t, 0)
		url, _ := pg(t)
		db := sqliteConn(t, src.dir)
		if _, err := db.Exec("UPDATE audit_events SET action = 'contact.nothing' WHERE seq = 2"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantErr(t, run(t, src, url, nil), "does not verify", "tillit audit verify")
	})
}

// TestRefusesTextPostgreSQLCannotHold: text with a NUL byte, or bytes that are not UTF-8, is
// refused naming the table, the row's key and the column, never the value.
func TestRefusesTextPostgreSQLCannotHold(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"NUL", "'Zorbq' || char(0) || 'Zorbq'"},
		{"invalid UTF-8", "CAST(x'5a6f726271ff' AS TEXT)"}, // "Zorbq" and a byte no UTF-8 text has
	} {
		t.Run(c.name, func(t *testing.T) {
			url, admin := pg(t)
			src := build(t, 0)
			db := sqliteConn(t, src.dir)
			if _, err := db.Exec("UPDATE purposes SET description = " + c.value + " WHERE id = 'newsletter'"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err := migrate.Run(context.Background(), migrate.Options{From: src.dir, To: url, AnchorMAC: src.mac, DiskKeys: src.disk})
			if err == nil {
				t.Fatal("Run succeeded; want the row refused")
			}
			for _, w := range []string{"table purposes", `id="newsletter"`, "column description", "PostgreSQL cannot store"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "Zorbq") {
				t.Errorf("error %q holds the value", err)
			}
			if n := pgCount(t, admin, url, "purposes"); n != 0 {
				t.Errorf("purposes: %d rows; want none of the refused batch", n)
			}
		})
	}
}

// TestCopiesWhatTheSchemasHold: tables a later migration might add on both sides are copied
// with no change to the code, as the schemas list them: one without a primary key (copied in
// rowid order, duplicate rows kept) into a destination table with a column of its own (left
// to its default), and a key-store table keyed by bytes and text (WITHOUT ROWID), each copy
// interrupted in the middle of the table and resumed. The destination was migrated before (a
// store made there and never used), which is no store's rows.
func TestCopiesWhatTheSchemasHold(t *testing.T) {
	url, admin := pg(t)
	src := build(t, 0)
	db := sqliteConn(t, src.dir)
	for _, q := range []string{
		"CREATE TABLE extra_log (note TEXT NOT NULL, n INTEGER) STRICT",
		"CREATE TABLE keystore.extra_pairs (h BLOB NOT NULL, k TEXT NOT NULL, v INTEGER NOT NULL, PRIMARY KEY (h, k)) STRICT, WITHOUT ROWID",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 13 {
		if _, err := db.Exec("INSERT INTO extra_log (note, n) VALUES (?, ?)", fmt.Sprintf("note %d", i%5), []any{int64(i % 3), nil}[i%2]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO keystore.extra_pairs (h, k, v) VALUES (?, ?, ?)", []byte{byte(i % 4), 0}, fmt.Sprintf("k%d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := store.Open(context.Background(), store.Config{URL: url, AnchorMAC: src.mac, DiskKeys: src.disk})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	schema := schemaOf(url)
	for _, q := range []string{
		`CREATE TABLE "` + schema + `".extra_log (note TEXT NOT NULL, n BIGINT, origin TEXT NOT NULL DEFAULT 'sqlite')`,
		`CREATE TABLE "` + schema + `_keys".extra_pairs (h BYTEA NOT NULL, k TEXT NOT NULL, v BIGINT NOT NULL, PRIMARY KEY (h, k))`,
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, stop := range []string{"extra_log", "keystore.extra_pairs"} {
		_, err := migrate.Run(context.Background(), migrate.Options{From: src.dir, To: url, AnchorMAC: src.mac, DiskKeys: src.disk, Batch: 4,
			AfterBatch: func(table string, rows int64) error {
				if table == stop && rows == 8 {
					return errStop
				}
				return nil
			}})
		if !errors.Is(err, errStop) {
			t.Fatalf("run stopped in %s: %v", stop, err)
		}
	}
	sum, err := migrate.Run(context.Background(), migrate.Options{From: src.dir, To: url, AnchorMAC: src.mac, DiskKeys: src.disk, Batch: 4})
	if err != nil || !sum.Verified {
		t.Fatalf("Run: %+v, %v", sum, err)
	}
	rows := func(q string) []string {
		r, err := admin.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var a, b, c sql.NullString
			if err := r.Scan(&a, &b, &c); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(a, b, c))
		}
		return out
	}
	log := rows(`SELECT note, n::text, origin FROM "` + schema + `".extra_log ORDER BY note, n NULLS FIRST`)
	if len(log) != 13 || log[0] != "{note 0 true} { false} {sqlite true}" || log[1] != "{note 0 true} {0 true} {sqlite true}" {
		t.Errorf("extra_log in PostgreSQL: %q; want 13 rows, duplicates kept, origin by default", log)
	}
	pairs := rows(`SELECT encode(h, 'hex'), k, v::text FROM "` + schema + `_keys".extra_pairs ORDER BY h, k COLLATE "C"`)
	if len(pairs) != 13 || pairs[0] != "{0000 true} {k0 true} {0 true}" || pairs[1] != "{0000 true} {k12 true} {12 true}" {
		t.Errorf("extra_pairs in PostgreSQL: %q; want 13 rows", pairs)
	}
}
