package cli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// TestDataDirectoryNamedWithAColon (review of issue 12): --data names a directory (DESIGN §6),
// and any directory name the file system takes worked before issue 12. Now openStore hands
// cfg.DataDir to store.Open as a URL, and store.resolve reads everything before a colon as a
// URL scheme when no slash precedes it, so a relative data directory named with a time stamp
// ("snap-2026-01-01T12:00") or a colon ("tillit:blue") is refused ("store: no backend for
// ... URLs") — an existing installation in such a directory no longer starts, imports or
// verifies.
func TestDataDirectoryNamedWithAColon(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: it checks that the database file lands in a directory whose name holds a colon")
	work := t.TempDir()
	t.Chdir(work)
	csv := filepath.Join(work, "people.csv")
	if err := os.WriteFile(csv, []byte("email\nanna@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"snap-2026-01-01T12:00", "tillit:blue"} {
		t.Run(dir, func(t *testing.T) {
			if code, _, stderr := runCLI(t, "import", "--data", dir, "--format", "generic", csv); code != 0 {
				t.Fatalf("tillit import --data %s: exit %d: %s", dir, code, stderr)
			}
			if code, out, stderr := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
				t.Errorf("tillit audit verify --data %s: exit %d: %s%s", dir, code, out, stderr)
			}
			if _, err := os.Stat(filepath.Join(work, dir, "tillit.db")); err != nil {
				t.Errorf("the store is not in the directory named %s: %v", dir, err)
			}
		})
	}
}
