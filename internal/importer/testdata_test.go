package importer

import (
	"os"
	"path/filepath"
	"testing"
)

// externalTestdata returns the path of a file under the team's shared external test inputs
// (../shared/testdata/external relative to the repository root; see its README), read in place.
// It skips the test when the folder is absent, and fails it instead when
// TILLIT_REQUIRE_EXTERNAL_TESTDATA=1 (as in CI).
func externalTestdata(t testing.TB, elem ...string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "testdata", "external"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(append([]string{dir}, elem...)...)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("TILLIT_REQUIRE_EXTERNAL_TESTDATA") == "1" {
			t.Fatalf("external test data absent: %v", err)
		}
		t.Skipf("external test data absent (%v); set TILLIT_REQUIRE_EXTERNAL_TESTDATA=1 to fail instead", err)
	}
	return path
}
