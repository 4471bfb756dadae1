package cli_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyValueDatabaseURLIsRefused (PostgreSQL trial): --database-url 'host=… user=… dbname=…',
// libpq's key=value form, was read as the path of a SQLite directory. Every command refuses it,
// asking for a postgres:// URL or a sqlite: path, without repeating the string (it may hold a
// password).
func TestKeyValueDatabaseURLIsRefused(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	csv := writeFile(t, "people.csv", "email\nanna@example.org\n")
	const conn = "host=127.0.0.1 user=postgres password=s3cret dbname=test"
	for _, args := range [][]string{
		{"import", "--data", filepath.Join(work, "data"), "--database-url", conn, "--format", "generic", csv},
		{"audit", "verify", "--data", filepath.Join(work, "data"), "--database-url", conn},
	} {
		code, _, stderr := runCLI(t, args...)
		if code == 0 || !strings.Contains(stderr, "postgres://") || !strings.Contains(stderr, "sqlite:") || strings.Contains(stderr, "s3cret") {
			t.Errorf("tillit %s with a key=value --database-url: exit %d, %q; want refused, asking for a postgres:// URL or a sqlite: path, without the string", args[0], code, stderr)
		}
	}
}

// TestFailedStartLeavesNoDataDirectory (PostgreSQL trial): tillit serve --data DIR with a
// database it cannot reach (postgres://…@127.0.0.1:1/x, nothing listens there) made DIR, and
// its parents, before it tried the database, and left them behind, empty. A start that fails
// leaves nothing it made; a directory that was there before stays, with what it held.
func TestFailedStartLeavesNoDataDirectory(t *testing.T) {
	work := t.TempDir()
	csv := writeFile(t, "people.csv", "email\nanna@example.org\n")
	const down = "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=5"
	for _, c := range []struct{ name, url string }{
		{"server down", down},
		{"key=value string", "host=127.0.0.1 port=1 dbname=x"},
		{"schema name refused", "postgres://postgres@127.0.0.1:1/x?schema=Bad-Name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := filepath.Join(work, strings.ReplaceAll(c.name, " ", "-"))
			dir := filepath.Join(parent, "data")
			for _, args := range [][]string{
				{"serve", "--data", dir, "--database-url", c.url, "--listen", "127.0.0.1:0"},
				{"import", "--data", dir, "--database-url", c.url, "--format", "generic", csv},
			} {
				if code, _, stderr := runCLI(t, args...); code == 0 {
					t.Fatalf("tillit %s with --database-url %s: exit 0; want a failure\n%s", args[0], c.url, stderr)
				}
				if _, err := os.Lstat(parent); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("tillit %s failed to start and left %s behind (%v)", args[0], parent, err)
					os.RemoveAll(parent)
				}
			}
		})
	}
	// A data directory that was there before the failed start stays, with what it held.
	dir := filepath.Join(work, "kept")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	note := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(note, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, "serve", "--data", dir, "--database-url", down, "--listen", "127.0.0.1:0"); code == 0 {
		t.Fatal("serve with the server down: exit 0")
	}
	if b, err := os.ReadFile(note); err != nil || string(b) != "mine" {
		t.Errorf("the failed start changed the data directory that was there: %q, %v", b, err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 {
		t.Errorf("the failed start left %q in the data directory; want only note.txt", names)
	}
}
