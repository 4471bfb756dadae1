package mail_test

import (
	"fmt"
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

// TestSweepGoneKeepsFilesBeingWritten: SweepGone runs while the outbox writes (on every node of a
// cluster, after another node's erasure): a live owner's half-written file stays, a gone
// owner's goes.
func TestSweepGoneKeepsFilesBeingWritten(t *testing.T) {
	dir := t.TempDir()
	names := []string{"live_m1.eml", "gone_m2.eml", "gone_m3.eml.tmp", "request-r1_m3.eml", "request-r2_m4.eml", "live_m5.eml.tmp", "notes.txt"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("To: <x@example.org>"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	live := func(contactID, requestID string) (bool, error) {
		return contactID == "live" || requestID == "r1", nil
	}
	n, err := mail.FileTransport{Dir: dir}.SweepGone(live)
	if err != nil || n != 3 {
		t.Fatalf("SweepGone = %d, %v; want 3 files removed", n, err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"live_m1.eml", "live_m5.eml.tmp", "notes.txt", "request-r1_m3.eml"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

// BenchmarkSweepGone10000: one pass of SweepGone over 10,000 message files whose owners are all
// live (a cluster node's pass after another node's erasure: the directory read once, nothing
// decrypted, nothing read but names).
func BenchmarkSweepGone10000(b *testing.B) {
	dir := b.TempDir()
	for i := range 10000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("0190a0a0-0000-7000-8000-%012d_m%d.eml", i, i)), []byte("To: <x@example.org>"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	gone := map[string]bool{"0190a0a0-0000-7000-8000-999999999999": true}
	t := mail.FileTransport{Dir: dir}
	for b.Loop() {
		if n, err := t.SweepGone(func(contactID, _ string) (bool, error) { return !gone[contactID], nil }); err != nil || n != 0 {
			b.Fatalf("SweepGone = %d, %v", n, err)
		}
	}
}
