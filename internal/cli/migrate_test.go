package cli_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// migrateSummary is the JSON tillit migrate-store prints.
type migrateSummary struct {
	Tables []struct {
		Table string `json:"table"`
		Rows  int64  `json:"rows"`
	} `json:"tables"`
	Rows     int64 `json:"rows"`
	Copied   int64 `json:"copied"`
	Resumed  bool  `json:"resumed"`
	Verified bool  `json:"verified"`
	Audit    struct {
		OK bool `json:"ok"`
	} `json:"audit"`
}

func (s migrateSummary) rows(table string) int64 {
	for _, t := range s.Tables {
		if t.Table == table {
			return t.Rows
		}
	}
	return -1
}

// importPeople imports n invented people (Mailchimp columns, subscribed) into dir with tillit
// import.
func importPeople(t *testing.T, dir string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Email Address,First Name,Last Name,Company\n")
	for i := range n {
		fmt.Fprintf(&b, "person%d@example.org,Ingrid,Öberg %d,Kvarn AB\n", i, i)
	}
	if code, _, stderr := runCLI(t, "import", "--data", dir, "--format", "mailchimp", "--status", "subscribed", writeFile(t, "people.csv", b.String())); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
}

// TestMigrateStoreCommand moves a data directory made by tillit import to PostgreSQL with the
// command, prints the summary and the way to run on, and every command then runs on the new
// store with the same data directory's keys.
func TestMigrateStoreCommand(t *testing.T) {
	testdb.RequireSQLite(t, "migrate-store moves a SQLite installation: its source is SQLite's files")
	schema, url := pgtest.FreshSchema(t, "tc_migrate_")
	admin := pgtest.Open(t)
	dir := filepath.Join(t.TempDir(), "data")
	fixtures := externalDir(t, "mailchimp-ghost")
	if code, _, stderr := runCLI(t, "import", "--data", dir, "--format", "mailchimp",
		filepath.Join(fixtures, "subscribed.csv"), filepath.Join(fixtures, "unsubscribed.csv"), filepath.Join(fixtures, "cleaned.csv")); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	importPeople(t, dir, 40)

	code, out, stderr := runCLI(t, "migrate-store", "--from", "sqlite:"+dir, "--to", url, "--batch", "9")
	if code != 0 {
		t.Fatalf("migrate-store: exit %d\n%s", code, stderr)
	}
	var sum migrateSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	var contacts int64
	admin.QueryRow(`SELECT count(*) FROM "` + schema + `".contacts`).Scan(&contacts)
	if !sum.Verified || !sum.Audit.OK || sum.Copied != sum.Rows || contacts < 40 || sum.rows("contacts") != contacts || sum.rows("keystore.contact_keys") != contacts {
		t.Errorf("summary %+v; want verified, every row copied, %d contacts with their keys", sum, contacts)
	}
	for _, want := range []string{"contacts: ", "rows (100%)", "The keys stay where they are: " + filepath.Join(dir, "root.key"),
		"tillit serve --data " + dir + " --database-url '" + url + "'", filepath.Join(dir, "tillit.db") + ", " + filepath.Join(dir, "keys.db")} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr:\n%s\nwant it to say %q", stderr, want)
		}
	}
	if code, out, stderr := runCLI(t, "audit", "verify", "--data", dir, "--database-url", url); code != 0 || !strings.Contains(out, "audit log intact") {
		t.Errorf("audit verify on PostgreSQL: exit %d, %q\n%s", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, "token", "create", "--data", dir, "--database-url", url, "--role", "agent", "--name", "after the move"); code != 0 || !strings.HasPrefix(out, "tlt_") {
		t.Errorf("token create on PostgreSQL: exit %d, %q\n%s", code, out, stderr)
	}
	// The data directory's SQLite files are not opened again without --database-url: they hold
	// the people as they were, and an erasure made in PostgreSQL would not reach them.
	if code, _, stderr := runCLI(t, "audit", "verify", "--data", dir); code != 1 || !strings.Contains(stderr, "moved to PostgreSQL") || !strings.Contains(stderr, "--database-url") {
		t.Errorf("a command on the data directory alone after the move: exit %d\n%s\nwant exit 1 saying the store moved", code, stderr)
	}
	// Nor moved again, to this store or another (the trial of issue 13: a second move to a new
	// schema served a person erased in PostgreSQL after the first).
	_, another := pgtest.FreshSchema(t, "tc_migrate_")
	for _, to := range []string{url, another} {
		code, _, stderr = runCLI(t, "migrate-store", "--from", "sqlite:"+dir, "--to", to)
		if code != 1 || !strings.Contains(stderr, "bring back everyone erased since") {
			t.Errorf("migrate-store of a directory that moved already: exit %d\n%s\nwant exit 1, refused", code, stderr)
		}
	}
}

// TestMigrateStoreUsage: wrong flags exit 2 before anything is opened.
func TestMigrateStoreUsage(t *testing.T) {
	for _, args := range [][]string{
		{"migrate-store"},
		{"migrate-store", "--to", "mysql://x"},
		{"migrate-store", "--from", "postgres://h/db", "--to", "postgres://h/db?schema=x"},
		{"migrate-store", "--from", "sqlite:/a", "--data", "/b", "--to", "postgres://h/db?schema=x"},
		{"migrate-store", "--to", "postgres://h/db?schema=x", "--database-url", "postgres://h/db?schema=y"},
		{"migrate-store", "--to", "postgres://h/db?schema=x", "--batch", "0"},
		{"migrate-store", "--to", "postgres://h/db?schema=x", "extra"},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 {
			t.Errorf("tillit %s: exit %d; want 2\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestMigrateStoreKilledResumes kills tillit migrate-store (SIGKILL, a child process) in the
// middle of the copy and runs it again: it continues where the killed run stopped, copies
// nothing twice, and the result verifies.
func TestMigrateStoreKilledResumes(t *testing.T) {
	testdb.RequireSQLite(t, "migrate-store moves a SQLite installation: its source is SQLite's files")
	schema, url := pgtest.FreshSchema(t, "tc_migrate_")
	admin := pgtest.Open(t)
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 3000)
	killMigrateMidCopy(t, dir, url)
	var before int64
	var finished sql.NullString
	if err := admin.QueryRow(`SELECT coalesce(sum(rows), 0) FROM "` + schema + `".migrate_progress`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	admin.QueryRow(`SELECT finished_at FROM "` + schema + `".migrate_source`).Scan(&finished)
	if before == 0 || finished.Valid {
		t.Fatalf("after the kill: %d rows recorded, finished %v; want a copy begun and not finished", before, finished)
	}

	code, out, errOut := runCLI(t, "migrate-store", "--from", "sqlite:"+dir, "--to", url, "--batch", "20")
	if code != 0 {
		t.Fatalf("the second run: exit %d\n%s", code, errOut)
	}
	var sum migrateSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Verified || !sum.Resumed || before+sum.Copied != sum.Rows || sum.rows("contacts") != 3000 {
		t.Errorf("second run %+v; want verified, resumed, %d rows copied by it after the %d before, 3000 contacts", sum, sum.Rows-before, before)
	}
}

// killMigrateMidCopy runs tillit migrate-store from dir to url (batches of 20 rows) in a child
// process and kills it (SIGKILL) once it reports progress on a table.
func killMigrateMidCopy(t *testing.T, dir, url string) {
	t.Helper()
	killChildAt(t, []string{"migrate-store", "--from", "sqlite:" + dir, "--to", url, "--batch", "20"}, " rows (", "migrate-store (mid-copy)")
}
