package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// startPostgresNode starts one tillit serve on a fresh PostgreSQL schema (dropped at the end)
// of the test process's database (pgtest) and returns it; skipped without TILLIT_TEST_POSTGRES_URL.
func startPostgresNode(t *testing.T) *child {
	t.Helper()
	_, url := pgtest.FreshSchema(t, "review13_")
	t.Setenv("TILLIT_DATABASE_URL", url)
	return startChild(t, t.TempDir(), "")
}

// TestNULInTextIsRefusedOnPostgreSQL: JSON may carry U+0000 ("\u0000"), which PostgreSQL's TEXT
// cannot hold (SQLSTATE 22021). A purpose's or processor's name or description with one must be
// refused as the field's own fault (400 naming it), as a contact's source is; on PostgreSQL the
// insert fails and the API answers 500 "internal error".
func TestNULInTextIsRefusedOnPostgreSQL(t *testing.T) {
	node := startPostgresNode(t)
	c := apptest.NewClient(t, node.base, node.token)
	for _, tc := range []struct {
		path, field string
		body        map[string]any
	}{
		{"/api/v1/purposes", "name", map[string]any{"id": "news", "name": "News\x00", "lawful_basis": "dpv:Consent"}},
		{"/api/v1/purposes", "description", map[string]any{"id": "news", "name": "News", "description": "x\x00y", "lawful_basis": "dpv:Consent"}},
		{"/api/v1/processors", "name", map[string]any{"id": "acme", "name": "Acme\x00", "country": "DE"}},
	} {
		var problem struct{ Field string }
		if st := c.Do("POST", tc.path, tc.body, &problem); st != 400 || problem.Field != tc.field {
			t.Errorf("POST %s with U+0000 in %s: %d field %q; want 400 naming %q", tc.path, tc.field, st, problem.Field, tc.field)
		}
	}
}

// TestServeRefusesAnUnfinishedMigrateStore: migrate-store holds the writer lock only while it
// runs. Once it is killed mid-copy, tillit serve started on the destination (a node restarted by
// its supervisor, an operator who thinks the move is done) opens the half-copied schema as a
// store: it takes it for a new installation (no tokens copied yet) and prints a new admin token,
// answers /readyz 200 with a fraction of the people, and its writes make the copy impossible to
// resume ("something else wrote"). It must refuse to start while a copy is unfinished, naming
// migrate-store.
func TestServeRefusesAnUnfinishedMigrateStore(t *testing.T) {
	testdb.RequireSQLite(t, "migrate-store moves a SQLite installation: its source is SQLite's files")
	_, url := pgtest.FreshSchema(t, "tc_migrate_")
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 3000)
	killMigrateMidCopy(t, dir, url)

	args, _ := json.Marshal([]string{"serve", "--data", dir, "--database-url", url, "--listen", "127.0.0.1:0"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TILLIT_CHILD_ARGS="+string(args))
	out := &syncBuffer{}
	cmd.Stderr, cmd.Stdout = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-exited:
			if cmd.ProcessState.Success() || !strings.Contains(out.String(), "migrate-store") {
				t.Errorf("tillit serve on an unfinished copy: %v\n%s\nwant a refusal naming migrate-store", cmd.ProcessState, out.String())
			}
			return
		case <-deadline:
			t.Fatalf("tillit serve neither listened nor exited in 20 s:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
			if strings.Contains(out.String(), "msg=listening") {
				t.Fatalf("tillit serve started on a schema whose migrate-store copy was killed mid-way:\n%s", out.String())
			}
		}
	}
}
