package cli_test

import (
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
