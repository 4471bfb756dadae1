package cli_test

import (
	"strings"
	"testing"
)

// TestLedgerOfAFutureCleanTimeReplays (review of issue 11): a cleaned row's CLEAN_TIME was
// taken as the suppression's time unchecked, though every other time of a row goes through
// consent.EventTime. A CLEAN_TIME in the future (a typo, a clock, a crafted file) or before
// 1990 was stored as is; tillit ledger export wrote it and ledger replay refused the whole file
// ("created_at: must not be in the future" / "too_early"), so no choice made since the backup
// could be replayed or restored. Now the row is refused naming the file's column, and the
// store's own ledger replays.
func TestLedgerOfAFutureCleanTimeReplays(t *testing.T) {
	for name, at := range map[string]string{"future": "2099-01-01 00:00:00", "before 1990": "1970-01-02 00:00:00"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			startProgram(t, dir).stop()
			rep := importCLI(t, dir, []string{"--purpose", "newsletter"},
				writeFile(t, "cleaned.csv", "Email Address,First Name,CLEAN_TIME\nbounced.person@example.org,Bo,"+at+"\n"))
			if rep.Refused != 1 || rep.SuppressionsAdded != 0 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Reason, "CLEAN_TIME") {
				t.Errorf("import of a CLEAN_TIME %s: refused %d, suppressions added %d, errors %+v; want the row refused naming CLEAN_TIME",
					at, rep.Refused, rep.SuppressionsAdded, rep.Errors)
			}
			code, out, stderr := runCLI(t, "ledger", "export", "--data", dir)
			if code != 0 {
				t.Fatalf("export: %d %s", code, stderr)
			}
			code, res, stderr := runCLI(t, "ledger", "replay", "--data", dir, writeFile(t, "ledger.jsonl", out))
			if code != 0 {
				t.Errorf("replay of the store's own ledger: exit %d %s %s; want it read", code, res, stderr)
			}
		})
	}
}
