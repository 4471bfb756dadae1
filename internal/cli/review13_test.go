package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store/storetest/testdb"

	"github.com/tillit/tillit/internal/app/apptest"
)

// startPostgresNode starts one tillit serve on a fresh PostgreSQL schema (dropped at the end)
// and returns it; skipped without TILLIT_TEST_POSTGRES_URL.
func startPostgresNode(t *testing.T) *child {
	t.Helper()
	base := os.Getenv("TILLIT_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TILLIT_TEST_POSTGRES_URL is not set")
	}
	schema := fmt.Sprintf("review13_%d", time.Now().UnixNano())
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	t.Cleanup(func() { dropSchemas(t, base, schema, schema+"_keys") })
	t.Setenv("TILLIT_DATABASE_URL", base+sep+"schema="+schema)
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

// killMigrateMidCopy runs tillit migrate-store from dir to url in a child process and kills it
// (SIGKILL) once it reports progress on a table.
func killMigrateMidCopy(t *testing.T, dir, url string) {
	t.Helper()
	args, _ := json.Marshal([]string{"migrate-store", "--from", "sqlite:" + dir, "--to", url, "--batch", "20"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TILLIT_CHILD_ARGS="+string(args))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), " rows (") {
			cmd.Process.Kill()
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("migrate-store was not killed mid-copy: %v", cmd.ProcessState)
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
	url, _, _ := pgSchemaURL(t)
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
