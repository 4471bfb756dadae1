package mail_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tillit/tillit/internal/mail"
)

// TestSweepRemovesFilesOfTheGone: found by a crash trial. An erasure that committed just before
// a kill left the person's mail files (their address in plain text) for good.
func TestSweepRemovesFilesOfTheGone(t *testing.T) {
	dir := t.TempDir()
	names := []string{"live_m1.eml", "gone_m2.eml", "request-r1_m3.eml", "request-r2_m4.eml", "live_m5.eml.tmp", "notes.txt"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("To: <x@example.org>"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	live := func(contactID, requestID string) (bool, error) {
		return contactID == "live" || requestID == "r1", nil
	}
	n, err := mail.FileTransport{Dir: dir}.Sweep(live)
	if err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3 files removed", n, err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"live_m1.eml", "notes.txt", "request-r1_m3.eml"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
