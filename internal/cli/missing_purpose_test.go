package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplayNamesPurposesTheBackupLacks (retrial of issue 11, F2): a refusal of a purpose created
// after the backup cannot apply to a store restored from it, which lacks the purpose: replay
// counts it not_present and now says which purposes to create again (missing_purposes, and a
// warning on stderr); once the operator created the purpose with the same id, the same file
// replayed again applies the refusal, and the gate answers refused. Before, the refusal was lost
// without a word and a consent-request campaign asked the person again.
func TestReplayNamesPurposesTheBackupLacks(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	token := p.token
	var c contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "refuser.webinars@example.org"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	backupAt := time.Now().UTC()

	purpose := map[string]any{"id": "webinars", "name": "Webinars", "description": "Webinar invitations", "lawful_basis": "dpv:Consent", "double_opt_in": true, "direct_marketing": true}
	p = startProgram(t, dir)
	p.token = token
	if st := p.do("POST", "/api/v1/purposes", purpose, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	if st := p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "webinars", "state": "dpv:ConsentRefused", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("refusal: %d", st)
	}
	p.stop()
	code, since, stderr := runCLI(t, "ledger", "export", "--data", dir, "--since", backupAt.Format(time.RFC3339Nano))
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	file := writeFile(t, "ledger.jsonl", since)

	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	code, out, stderr := runCLI(t, "ledger", "replay", "--data", restored, file)
	if code != 0 || !strings.Contains(out, `"missing_purposes": [`) || !strings.Contains(out, `"webinars"`) ||
		!strings.Contains(stderr, "purposes this store does not have were not applied (webinars)") {
		t.Errorf("replay onto a store without the purpose: exit %d\n%s%s\nwant missing_purposes [webinars] and a warning", code, out, stderr)
	}
	q := startProgram(t, restored)
	q.token = token
	if st := q.do("POST", "/api/v1/purposes", purpose, nil); st != 201 {
		t.Fatalf("purpose created again: %d", st)
	}
	r := replay(t, "ledger", "replay", "--data", restored, file)
	if c := r.Types["refusal"]; c["applied"] != 1 {
		t.Errorf("replay once the purpose exists: refusal %v; want 1 applied", c)
	}
	if ok, reason := q.gate(map[string]string{"contact_id": c.ID}, "webinars"); ok || reason != "refused" {
		t.Errorf("gate for webinars after the second replay: %v %s; want refused", ok, reason)
	}
	q.stop()
}
