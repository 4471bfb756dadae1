package cli_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFailedFirstStartLeavesNoKeys (trial 12): a first start whose store cannot be opened
// (here --database-url sqlite:///…/tillit.db, the usual SQLite URL form, read by store.Open as a
// directory that does not exist) has already written root.key and keysets.json, so every later
// start of that data directory is refused ("holds the keysets but not the database"); before
// issue 12 the same command started.
func TestFailedFirstStartLeavesNoKeys(t *testing.T) {
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	csv := filepath.Join(work, "people.csv")
	if err := os.WriteFile(csv, []byte("email\nanna@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "sqlite://" + filepath.Join(dir, "tillit.db")
	code, _, stderr := runCLI(t, "import", "--data", dir, "--database-url", url, "--format", "generic", csv)
	if code == 0 {
		return // the URL was usable: nothing to check
	}
	t.Logf("first start with --database-url %s: exit %d: %s", url, code, stderr)
	for _, f := range []string{"keysets.json", "root.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("the failed first start left %s behind in the data directory", f)
		}
	}
	if code, _, stderr := runCLI(t, "import", "--data", dir, "--format", "generic", csv); code != 0 {
		t.Errorf("retry without --database-url: exit %d: %s (the data directory is refused for good)", code, stderr)
	}
}
