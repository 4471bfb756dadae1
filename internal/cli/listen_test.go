package cli_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBadListenIsUsage: found by a trial. --listen with a port out of range made a first start
// create the root key and keysets, then fail with exit 1.
func TestBadListenIsUsage(t *testing.T) {
	for _, listen := range []string{"bogus", "127.0.0.1:181910", "127.0.0.1:http"} {
		dir := filepath.Join(t.TempDir(), "data")
		code, _, errs := runCLI(t, "serve", "--data", dir, "--listen", listen)
		if code != 2 {
			t.Errorf("serve --listen %s: exit %d, want 2\n%s", listen, code, errs)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("serve --listen %s created %s", listen, dir)
		}
	}
}
