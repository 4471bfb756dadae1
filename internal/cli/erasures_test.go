package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// copyDir copies the regular files of src into dst (a backup, or its restore), and src's store
// into dst's where it is not files (testdb.CopyStore).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	testdb.CopyStore(t, src, dst)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestErasureSurvivesARestore: the erasure ledger was written but nothing replayed it, so a
// backup taken before an erasure brought the person back when restored (DESIGN: "the erasure
// ledger that every restore replays"). tillit erasures export / replay carry it over, and a
// ledger file of the old form (contact_id and erased_at only) still replays.
func TestErasureSurvivesARestore(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	var gone, kept contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "vanished.person@example.org", "first_name": "Vanja"}, &gone)
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "kept.person@example.org", "first_name": "Kerstin"}, &kept)
	token := p.token
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)

	p = startProgram(t, dir)
	p.token = token
	if st := p.do("DELETE", "/api/v1/contacts/"+gone.ID, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	p.stop()
	code, ledger, stderr := runCLI(t, "erasures", "export", "--data", dir)
	lines := readLedger(t, ledger)
	if code != 0 || len(lines) != 2 || lines[0].Type != "erasure" || lines[0].ContactID != gone.ID || lines[1].Type != "suppression" || lines[1].Reason != "erased" || strings.Contains(ledger, kept.ID) {
		t.Fatalf("export: exit %d %q %s; want the erasure and its suppression", code, ledger, stderr)
	}
	// A file written before the ledger carried more than erasures still replays.
	var erasedAt struct {
		ErasedAt string `json:"erased_at"`
	}
	jsonUnmarshal(strings.Split(ledger, "\n")[1], &erasedAt) // after the header
	old := `{"contact_id":"` + gone.ID + `","erased_at":"` + erasedAt.ErasedAt + `"}`
	ledgerFile := writeFile(t, "erasures.jsonl", old+"\n")

	// The disk is lost; the backup is restored.
	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	bad := writeFile(t, "bad.jsonl", old+"\n{\"contact_id\":\"x\",\"erased_at\":\"yesterday\"}\n")
	if code, _, stderr := runCLI(t, "erasures", "replay", "--data", restored, bad); code != 2 || !strings.Contains(stderr, "line 2: erased_at") {
		t.Errorf("replay of a file with a bad line: exit %d %s; want 2 naming line 2 and erased_at", code, stderr)
	}
	if r := replay(t, "erasures", "replay", "--data", restored, ledgerFile); r.Lines != 1 || r.Types["erasure"]["applied"] != 1 {
		t.Fatalf("replay: %+v; want one erased", r)
	}
	if r := replay(t, "ledger", "replay", "--data", restored, ledgerFile); r.Types["erasure"]["applied"] != 0 || r.Types["erasure"]["already_present"] != 1 {
		t.Errorf("second replay: %+v; want nothing left to erase", r)
	}
	p = startProgram(t, restored)
	p.token = token
	if st := p.do("GET", "/api/v1/contacts/"+gone.ID, nil, nil); st != 404 {
		t.Errorf("erased contact after the restore and replay: %d; want 404", st)
	}
	if st := p.do("GET", "/api/v1/contacts/"+kept.ID, nil, nil); st != 200 {
		t.Errorf("kept contact after the restore: %d; want 200", st)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	p.do("POST", "/api/v1/consent-checks", map[string]string{"email": "vanished.person@example.org", "purpose": "newsletter"}, &d)
	if d.Allowed || d.Reason != "suppressed" {
		t.Errorf("gate for the erased address after the replay: %+v; want suppressed", d)
	}
	p.stop()
	assertNoPlaintext(t, restored, []string{"vanished.person", "Vanja"})
}
