package keys_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/keys"
)

// TestRenewRootFileWithTheWrongKey: a renewal whose root key file does not open keysets.json
// (another installation's key) fails, names both key files, and writes nothing: no
// root.key.next that every later error would call an interrupted renewal, and the keyset file
// and root key file as they were.
func TestRenewRootFileWithTheWrongKey(t *testing.T) {
	dir := t.TempDir()
	rootFile, file := filepath.Join(dir, "root.key"), filepath.Join(dir, "keysets.json")
	openTest(t, dir, true)
	other := t.TempDir()
	openTest(t, other, true)
	if err := os.Rename(filepath.Join(other, "root.key"), rootFile); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	beforeKey, _ := os.ReadFile(rootFile)
	_, err := keys.RenewRootFile(file, rootFile, time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC))
	if err == nil || !strings.Contains(err.Error(), "root.key.next") || !strings.Contains(err.Error(), rootFile) {
		t.Fatalf("RenewRootFile with another installation's root key = %v; want an error naming %s and root.key.next", err, rootFile)
	}
	if _, err := os.Stat(rootFile + ".next"); !os.IsNotExist(err) {
		t.Errorf("root.key.next written by a renewal that could not start: %v", err)
	}
	after, _ := os.ReadFile(file)
	afterKey, _ := os.ReadFile(rootFile)
	if string(after) != string(before) || string(afterKey) != string(beforeKey) {
		t.Error("keysets.json or root.key changed")
	}
}
