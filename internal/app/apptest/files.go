package apptest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// WriteFile writes body to a file called name in a fresh directory under t.TempDir() and
// returns its path.
func WriteFile(t testing.TB, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ExternalDir returns sub under ../shared/testdata/external (relative to the repository root:
// the directory of go.mod, found upwards from the test's directory), skipping the test when it
// is absent unless TILLIT_REQUIRE_EXTERNAL_TESTDATA=1, which fails it instead.
func ExternalDir(t testing.TB, sub string) string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(root)
		if up == root {
			t.Fatal("apptest.ExternalDir: no go.mod above the test's directory")
		}
		root = up
	}
	dir := filepath.Join(root, "..", "shared", "testdata", "external", sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("TILLIT_REQUIRE_EXTERNAL_TESTDATA") == "1" {
			t.Fatalf("external test data %s is required (TILLIT_REQUIRE_EXTERNAL_TESTDATA=1) but absent: %v", dir, err)
		}
		t.Skipf("external test data %s is absent; skipping (set TILLIT_REQUIRE_EXTERNAL_TESTDATA=1 to fail instead)", dir)
	}
	return dir
}

// AssertNoPlaintext fails when any of the needles appears as bytes in any file under dir, or in
// any file the directory's store keeps elsewhere (testdb.Files: PostgreSQL's relation files),
// ignoring case; in the SQLite files, encrypted on disk, it looks under the encryption too
// (testdb.Decrypted): an erased person must be gone from the pages, not only hidden by the
// disk key. A needle of hex digits with a letter among them is refused: the store keeps
// keyed hashes as hex text, so "Ebba" once matched one by chance. Fewer than three files fails
// too: the database, the key store and the keys must be among them.
func AssertNoPlaintext(t testing.TB, dir string, needles []string) {
	t.Helper()
	for _, n := range needles {
		if strings.Trim(strings.ToLower(n), "0123456789abcdef") == "" && strings.ContainsAny(strings.ToLower(n), "abcdef") {
			t.Fatalf("needle %q is a hex word and can match a stored hash by chance; use a letter beyond f", n)
		}
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, testdb.Files(t, dir)...)
	parts := map[string]bool{}
	for _, p := range testdb.Parts(t, dir) {
		parts[p] = true
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := path // a store file elsewhere: its full path
		if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
		pt, decrypted := testdb.Decrypted(t, dir, b)
		if parts[path] && len(b) > 0 && !decrypted && !bytes.HasPrefix(b, []byte("SQLite format 3\x00")) {
			t.Errorf("%s is neither a plain SQLite file nor one the directory's disk keys open: the scan cannot look at its pages", name)
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) || bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(n))) {
				t.Errorf("%s holds the plaintext %q", name, n)
			}
			if decrypted && (bytes.Contains(pt, []byte(n)) || bytes.Contains(bytes.ToLower(pt), []byte(strings.ToLower(n)))) {
				t.Errorf("%s holds the plaintext %q under its disk encryption", name, n)
			}
		}
	}
	if len(files) < 3 {
		t.Fatalf("only %d files under %s and of its store; expected the database, key store and keys", len(files), dir)
	}
}
