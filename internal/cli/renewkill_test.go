package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

// TestKilledRenewalSaysHowToFinish: while a renewal of the root key file is unfinished
// (killed after keysets.json was re-wrapped under root.key.next, or after root.key was
// retired), a command refuses to start and says to run tillit keys rotate --root again, which
// finishes it (TestRotateRootKilledAfterRewrap). After the retire, the error said root.key was
// missing and to restore it from a backup, which would not open keysets.json either.
func TestKilledRenewalSaysHowToFinish(t *testing.T) {
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
			if err := keys.Rewrap(file, cur, next); err != nil {
				t.Fatal(err)
			}
			if stop == "after-retire" {
				if err := os.Rename(rootFile, rootFile+".retired-20260504T000000Z"); err != nil {
					t.Fatal(err)
				}
			}
			code, out, stderr := runCLI(t, "audit", "verify", "--data", dir)
			if code == 0 || !strings.Contains(stderr, "run tillit keys rotate --root again to finish it") {
				t.Errorf("audit verify mid-renewal (%s): exit %d %s%s; want a refusal saying to run tillit keys rotate --root again", stop, code, out, stderr)
			}
		})
	}
}
