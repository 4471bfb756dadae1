package cli_test

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRestoreKeepsTheChoicesOfPeopleTheBackupLacks (trial of issue 11, item 1): a person imported
// after the backup who then withdrew, objected or had processing restricted is not in the
// backup, and the ledger's withdrawal, objection and restriction lines carry only the contact
// id: the replay counts them not_present and puts nothing back, so the marketer's next import of
// the same Mailchimp export re-creates all three with their consent and the next campaign mails
// them. A restore must not undo those choices (README: "A restore never undoes a choice"); an
// erasure of such a person already holds, as its line carries the address's keyed hash.
func TestRestoreKeepsTheChoicesOfPeopleTheBackupLacks(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	token := p.token
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	backupAt := time.Now().UTC()

	// After the backup: the Mailchimp export is imported, then three people use their rights.
	const export = "Email Address,First Name,OPTIN_TIME,CONFIRM_TIME,LAST_CHANGED\n" +
		"late.withdrawer@example.org,Wera,2026-01-01 00:00:00,2026-01-01 00:01:00,2026-01-01 00:01:00\n" +
		"late.objector@example.org,Otto,2026-01-01 00:00:00,2026-01-01 00:01:00,2026-01-01 00:01:00\n" +
		"late.restricted@example.org,Rut,2026-01-01 00:00:00,2026-01-01 00:01:00,2026-01-01 00:01:00\n" +
		"late.kept@example.org,Kim,2026-01-01 00:00:00,2026-01-01 00:01:00,2026-01-01 00:01:00\n"
	file := writeFile(t, "export.csv", export)
	if rep := importJSON(t, dir, file); rep.Created != 4 {
		t.Fatalf("import after the backup: %+v; want 4 created", rep)
	}
	p = startProgram(t, dir)
	p.token = token
	id := func(email string) string {
		var list struct {
			Items []contactJSON `json:"items"`
		}
		if st := p.do("POST", "/api/v1/contacts/lookup", map[string]string{"email": email}, &list); st != 200 || len(list.Items) != 1 {
			t.Fatalf("lookup %s: %d %+v", email, st, list)
		}
		return list.Items[0].ID
	}
	if st := p.do("POST", "/api/v1/contacts/"+id("late.withdrawer@example.org")+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "api"}, nil); st != 201 {
		t.Fatalf("withdrawal: %d", st)
	}
	if st := p.do("POST", "/api/v1/contacts/"+id("late.objector@example.org")+"/objections", map[string]any{"scope": "direct_marketing"}, nil); st != 201 {
		t.Fatalf("objection: %d", st)
	}
	if st := p.do("PUT", "/api/v1/contacts/"+id("late.restricted@example.org")+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restriction: %d", st)
	}
	p.stop()
	code, since, stderr := runCLI(t, "ledger", "export", "--data", dir, "--since", backupAt.Format(time.RFC3339Nano))
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	ledgerFile := writeFile(t, "ledger.jsonl", since)

	// The disk is lost: the backup is restored and the ledger replayed, as the README says.
	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	got := replay(t, "ledger", "replay", "--data", restored, ledgerFile)
	t.Logf("replay: %+v", got.Types)

	// The marketer imports the same export again, and the gate is asked before the next campaign.
	rep := importJSON(t, restored, file)
	p = startProgram(t, restored)
	p.token = token
	for email, want := range map[string]string{
		"late.withdrawer@example.org": "withdrawn",
		"late.objector@example.org":   "objected",
		"late.restricted@example.org": "restricted",
	} {
		if ok, reason := p.gate(map[string]string{"email": email}, "newsletter"); ok {
			t.Errorf("gate for %s after the restore and the re-import: allowed (%s); want refused, %s", email, reason, want)
		}
	}
	if ok, reason := p.gate(map[string]string{"email": "late.kept@example.org"}, "newsletter"); !ok {
		t.Errorf("gate for late.kept after the restore: refused (%s); want allowed", reason)
	}
	// The three choices hold by address: the import creates none of the three (no personal data
	// is stored for an address whose person left the list, objected or restricted processing;
	// counted suppressed, as for an imported unsubscribe) and records consent for late.kept alone.
	if rep.Created != 1 || rep.Suppressed != 3 || rep.ConsentsRecorded != 1 {
		t.Errorf("re-import after the restore: %+v; want late.kept created with consent, the other three suppressed", rep)
	}
	for typ, want := range map[string]int{"withdrawal": 1, "objection": 1, "restriction": 1} {
		if c := got.Types[typ]; c["applied"] != want || c["not_present"] != 0 {
			t.Errorf("replay %s: %+v; want %d applied by address", typ, c, want)
		}
	}
}
