package cli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

// TestRotateRootKilledAfterRewrap (review of issue 14): keys rotate --root renews a root key
// file in three steps (root.key.next written, keysets.json re-wrapped under it, the keys
// renamed), and a kill between them is to be finished by running the command again, as the
// error every command then gives says. But the command opens the store with root.key first
// (openStore), which fails in that very state: keysets.json opens only with root.key.next (or
// root.key is gone), so the renewal can never be finished by tillit and the installation does
// not start.
func TestRotateRootKilledAfterRewrap(t *testing.T) {
	for _, stop := range []string{"after-rewrap", "after-retire"} {
		t.Run(stop, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			startProgram(t, dir).stop()
			rootFile, file := filepath.Join(dir, "root.key"), filepath.Join(dir, "keysets.json")
			cur, _, err := keys.OpenRootFile(rootFile, false)
			if err != nil {
				t.Fatal(err)
			}
			next, _, err := keys.OpenRootFile(rootFile+".next", true)
			if err != nil {
				t.Fatal(err)
			}
			if err := keys.Rewrap(file, cur, next); err != nil { // step 2 done: killed here
				t.Fatal(err)
			}
			if stop == "after-retire" {
				if err := os.Rename(rootFile, rootFile+".retired-20260504T000000Z"); err != nil {
					t.Fatal(err)
				}
			}
			if code, out, stderr := runCLI(t, "keys", "rotate", "--root", "--data", dir); code != 0 {
				t.Fatalf("keys rotate --root again after a kill %s: exit %d %s%s", stop, code, out, stderr)
			}
			if code, out, stderr := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
				t.Errorf("audit verify after the renewal was finished: exit %d %s%s", code, out, stderr)
			}
		})
	}
}
