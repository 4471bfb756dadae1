package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestoreKeepsAnImportedBounce: an imported cleaned row is suppressed at the file's
// CLEAN_TIME, often long before the backup, and ledger export --since the backup selected
// suppressions by that time: the line was left out, and after the restore the next import
// subscribed the bounced address again. --since now reads when Tillit recorded the entry; the
// line keeps the bounce's own time as created_at.
func TestRestoreKeepsAnImportedBounce(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	backupAt := time.Now().UTC()

	cleaned := importCLI(t, dir, []string{"--status", "cleaned"},
		writeFile(t, "cleaned.csv", "Email Address,First Name,CLEAN_TIME\nbounced.long.ago@example.org,Bo,2023-04-05 06:07:08\n"))
	if cleaned.SuppressionsAdded != 1 {
		t.Fatalf("cleaned import: %+v; want the address suppressed", cleaned)
	}
	code, since, stderr := runCLI(t, "ledger", "export", "--data", dir, "--since", backupAt.Format(time.RFC3339Nano))
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	var sups []ledgerLine
	for _, l := range readLedger(t, since) {
		if l.Type == "suppression" {
			sups = append(sups, l)
		}
	}
	if len(sups) != 1 || sups[0].Reason != "bounced" || !strings.Contains(since, `"created_at":"2023-04-05T06:07:08Z"`) || strings.Contains(since, "bounced.long.ago") {
		t.Fatalf("export --since the backup:\n%s\nwant the bounced suppression, created at its CLEAN_TIME, no address", since)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	r := replay(t, "ledger", "replay", "--data", restored, writeFile(t, "ledger.jsonl", since))
	if c := r.Types["suppression"]; c["applied"] != 1 {
		t.Errorf("replay: %+v; want the suppression applied", r)
	}
	if code, again, _ := runCLI(t, "ledger", "export", "--data", restored, "--since", backupAt.Format(time.RFC3339Nano)); code != 0 || again != since {
		t.Errorf("export of the restored directory:\n%s\nwant the replayed ledger:\n%s", again, since)
	}
	back := importCLI(t, restored, []string{"--status", "subscribed"},
		writeFile(t, "sub.csv", "Email Address,First Name,OPTIN_TIME\nbounced.long.ago@example.org,Bo,2025-01-01 00:00:00\n"))
	if back.Created != 0 || back.Suppressed != 1 {
		t.Errorf("import after the restore: %+v; want the bounced address suppressed, nobody created", back)
	}
}
