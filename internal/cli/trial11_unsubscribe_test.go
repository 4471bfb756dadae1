package cli_test

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUnsubscribeLinkFromAfterTheBackupHoldsAfterARestore (trial of issue 11, items 1 and 2): a
// message sent after the backup carries an unsubscribe token the backup does not hold. After the
// restore, the person uses that link (the one-click POST a mail client sends, RFC 8058, or the
// page's button): the page answers "You are unsubscribed … You will not receive this mail
// again", but nothing is recorded, since an unknown token is answered the same as a known one;
// the gate still allows the person and the next campaign mails them. Either the choice is
// recorded, or the page must not claim it.
func TestUnsubscribeLinkFromAfterTheBackupHoldsAfterARestore(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	token := p.token
	var c contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "reader@example.org", "first_name": "Rea"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)

	// After the backup: a campaign reaches the reader, with a newly minted unsubscribe link.
	sink := startSMTP(t)
	env := map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"}
	p = startProgramEnv(t, dir, env)
	p.token = token
	var camp campaignJSON
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "After the backup", "text": "Hello."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	_, text := parseMessage(t, sink.next(t))
	link := regexp.MustCompile(`https?://\S+/u/[A-Za-z0-9_-]+`).FindString(text)
	if link == "" {
		t.Fatalf("no unsubscribe link in %q", text)
	}
	p.stop()
	code, full, stderr := runCLI(t, "ledger", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}

	// The disk is lost: restore and replay; then the reader unsubscribes with the link they have.
	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	replay(t, "ledger", "replay", "--data", restored, writeFile(t, "ledger.jsonl", full))
	p = startProgramEnv(t, restored, env)
	p.token = token
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.base+u.Path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	claimed := strings.Contains(string(b), "You are unsubscribed")
	ok, reason := p.gate(map[string]string{"contact_id": c.ID}, "newsletter")
	if claimed && ok {
		t.Errorf("the page said \"You are unsubscribed\" (%d), and the gate still allows the reader (%s): the choice was not recorded", resp.StatusCode, reason)
	}
	// The link is sealed (it needs no row the backup lacks): the choice is recorded and said.
	if !claimed || ok || reason != "withdrawn" {
		t.Errorf("after the restore: page %d %q, gate %v (%s); want \"You are unsubscribed\" and the gate refusing, withdrawn", resp.StatusCode, b, ok, reason)
	}
}
