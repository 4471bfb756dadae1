package cli_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ledgerLine is one line of tillit ledger export, as far as the tests read it.
type ledgerLine struct {
	Type      string `json:"type"`
	ContactID string `json:"contact_id"`
	EventID   string `json:"event_id"`
	Reason    string `json:"reason"`
}

// readLedger reads the lines of an export after its header (type "ledger"), which it checks.
func readLedger(t *testing.T, out string) []ledgerLine {
	t.Helper()
	var lines []ledgerLine
	all := strings.Split(strings.TrimSpace(out), "\n")
	if !regexp.MustCompile(`^\{"type":"ledger","index_key_id":"[0-9a-f]{32}"\}$`).MatchString(all[0]) {
		t.Fatalf("first line of the export %q; want the header naming the index key", all[0])
	}
	for _, l := range all[1:] {
		if l == "" {
			continue
		}
		var e ledgerLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("ledger line %q: %v", l, err)
		}
		lines = append(lines, e)
	}
	return lines
}

// replayCounts is what tillit ledger replay prints.
type replayCounts struct {
	Lines int                       `json:"lines"`
	Types map[string]map[string]int `json:"types"`
}

func replay(t *testing.T, args ...string) replayCounts {
	t.Helper()
	code, out, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d %s %s", args, code, out, stderr)
	}
	var r replayCounts
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("replay output %q: %v", out, err)
	}
	return r
}

// TestRestoreNeverUndoesAChoice (issue 11, item 1): the erasure ledger carried only contact ids,
// so after the README's restore and replay a person erased after the backup (and never in it) came
// back with the next import, and a person who unsubscribed after the backup was mailed by the next
// campaign. The exported ledger now carries erasures with their suppression hashes, suppressions,
// withdrawals, refusals, objections and restrictions, and replay re-applies them idempotently.
func TestRestoreNeverUndoesAChoice(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	token := p.token
	ids := map[string]string{}
	for _, name := range []string{"early", "unsub", "refuser", "objector", "restricted", "bounced", "kept"} {
		var c contactJSON
		if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": name + ".person@example.org", "first_name": "Ledger" + name}, &c); st != 201 {
			t.Fatalf("create %s: %d", name, st)
		}
		ids[name] = c.ID
		if name != "refuser" {
			if st := p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
				t.Fatalf("consent %s: %d", name, st)
			}
		}
	}
	// A withdrawal the backup already holds.
	if st := p.do("POST", "/api/v1/contacts/"+ids["early"]+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "api"}, nil); st != 201 {
		t.Fatalf("early withdrawal: %d", st)
	}
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	backupAt := time.Now().UTC()

	// After the backup: a campaign, an unsubscribe by its link, a refusal, an objection, a
	// restriction, a hard bounce, a person created and erased, and an imported cleaned address.
	sink := startSMTP(t)
	p = startProgramEnv(t, dir, map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"})
	p.token = token
	var camp campaignJSON
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "Before", "text": "Hello."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	var link string
	for range 5 {
		msg, text := parseMessage(t, sink.next(t))
		if msg.Header.Get("To") == "unsub.person@example.org" || strings.Contains(msg.Header.Get("To"), "unsub.person@") {
			link = regexp.MustCompile(`https?://\S+/u/[A-Za-z0-9_-]+`).FindString(text)
		}
	}
	if link == "" {
		t.Fatal("no unsubscribe link in the message to unsub.person")
	}
	if resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("unsubscribe: %v %v", resp, err)
	}
	if st := p.do("POST", "/api/v1/contacts/"+ids["refuser"]+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentRefused", "method": "api"}, nil); st != 201 {
		t.Fatalf("refusal: %d", st)
	}
	if st := p.do("POST", "/api/v1/contacts/"+ids["objector"]+"/objections", map[string]any{"scope": "direct_marketing"}, nil); st != 201 {
		t.Fatalf("objection: %d", st)
	}
	if st := p.do("PUT", "/api/v1/contacts/"+ids["restricted"]+"/restriction", nil, nil); st != 200 {
		t.Fatalf("restriction: %d", st)
	}
	const dsn = "From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; bounced.person@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
	req, _ := http.NewRequest("POST", p.base+"/api/v1/mail-reports", strings.NewReader(dsn))
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "message/rfc822")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("bounce report: %v %v", resp, err)
	}
	var newbie contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "newbie.person@example.org", "first_name": "Nyberg"}, &newbie); st != 201 {
		t.Fatalf("create newbie: %d", st)
	}
	if st := p.do("DELETE", "/api/v1/contacts/"+newbie.ID, nil, nil); st != 204 {
		t.Fatalf("erase newbie: %d", st)
	}
	p.stop()
	if code, _, stderr := runCLI(t, "import", "--data", dir, "--format", "mailchimp", "--status", "cleaned", "--json",
		writeFile(t, "cleaned.csv", "Email Address,First Name\ncleaned.only@example.org,Clea\n")); code != 0 {
		t.Fatalf("import cleaned: %d %s", code, stderr)
	}

	code, full, stderr := runCLI(t, "erasures", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	for _, secret := range []string{"example.org", "person", "Ledger", "Nyberg", "Clea"} {
		if strings.Contains(full, secret) {
			t.Errorf("the ledger holds %q; want ids, times and keyed hashes only", secret)
		}
	}
	byType := map[string]int{}
	for _, l := range readLedger(t, full) {
		byType[l.Type]++
	}
	want := map[string]int{"erasure": 1, "suppression": 3, "withdrawal": 2, "refusal": 1, "objection": 1, "restriction": 1}
	for k, n := range want {
		if byType[k] != n {
			t.Errorf("export: %d %s lines; want %d (all: %v)", byType[k], k, n, byType)
		}
	}
	code, since, _ := runCLI(t, "ledger", "export", "--data", dir, "--since", backupAt.Format(time.RFC3339Nano))
	if code != 0 || strings.Count(since, "\n") != strings.Count(full, "\n")-1 || strings.Contains(since, ids["early"]) {
		t.Errorf("export --since the backup: exit %d, %d lines; want every line but the early withdrawal (%d)", code, strings.Count(since, "\n"), strings.Count(full, "\n")-1)
	}
	ledgerFile := writeFile(t, "ledger.jsonl", full)

	// The disk is lost; the backup is restored, and the ledger replayed.
	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	bad := writeFile(t, "bad.jsonl", full+`{"type":"suppression","hash":"00112233445566778899aabbccddeeff","reason":"forgotten","created_at":"2025-01-01T00:00:00Z"}`+"\n")
	if code, _, stderr := runCLI(t, "erasures", "replay", "--data", restored, bad); code != 2 || !strings.Contains(stderr, "line 11: reason:") {
		t.Errorf("replay of a file with a bad last line: exit %d %s; want 2 naming line 11 (after the header and nine lines) and the field", code, stderr)
	}
	first := replay(t, "erasures", "replay", "--data", restored, ledgerFile)
	// The erasure line comes first and puts the erased address's hash back itself; the early
	// withdrawal is in the backup.
	applied := map[string][2]int{"erasure": {1, 0}, "suppression": {2, 1}, "withdrawal": {1, 1}, "refusal": {1, 0}, "objection": {1, 0}, "restriction": {1, 0}}
	for k, n := range applied {
		if c := first.Types[k]; c["applied"] != n[0] || c["already_present"] != n[1] || c["not_present"] != 0 {
			t.Errorf("first replay: %s %v; want %d applied, %d already present (the bad file applied nothing)", k, c, n[0], n[1])
		}
	}
	if first.Lines != 9 {
		t.Errorf("first replay: %+v; want 9 lines", first)
	}
	second := replay(t, "erasures", "replay", "--data", restored, ledgerFile)
	for k, n := range want {
		if c := second.Types[k]; c["applied"] != 0 || c["already_present"] != n || c["not_present"] != 0 {
			t.Errorf("second replay: %s %v; want all %d already present", k, c, n)
		}
	}
	// The restored directory now holds what the lost one held: its own export is the same.
	if code, again, _ := runCLI(t, "ledger", "export", "--data", restored); code != 0 || again != full {
		t.Errorf("export of the restored directory after the replay:\n%s\nwant the replayed ledger:\n%s", again, full)
	}

	p = startProgramEnv(t, restored, map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"})
	p.token = token
	gate := func(name string) string {
		var d struct {
			Reason string `json:"reason"`
		}
		p.do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": ids[name], "purpose": "newsletter"}, &d)
		return d.Reason
	}
	for name, reason := range map[string]string{"early": "withdrawn", "unsub": "withdrawn", "refuser": "refused", "objector": "objected", "restricted": "restricted", "bounced": "suppressed", "kept": "consent_given"} {
		if got := gate(name); got != reason {
			t.Errorf("gate for %s after the restore: %s; want %s", name, got, reason)
		}
	}
	var hist struct {
		Events []struct {
			ID, State, Method string
		} `json:"events"`
	}
	p.do("GET", "/api/v1/contacts/"+ids["unsub"]+"/consents", nil, &hist)
	withdrawals := 0
	for _, e := range hist.Events {
		if e.State == "dpv:ConsentWithdrawn" && e.Method == "one-click-unsubscribe" {
			withdrawals++
		}
	}
	if withdrawals != 1 || len(hist.Events) != 2 {
		t.Errorf("unsub's events after two replays: %+v; want given and one withdrawal", hist.Events)
	}
	var prob problemJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "newbie.person@example.org"}, &prob); st != 409 || prob.Reason != "erased" {
		t.Errorf("staff create of the erased address after the restore: %d %+v; want 409 erased", st, prob)
	}
	var audit struct {
		Items []struct {
			Action  string `json:"action"`
			ActorID string `json:"actor_id"`
		} `json:"items"`
	}
	p.do("GET", "/api/v1/contacts/"+ids["unsub"]+"/audit", nil, &audit)
	replayed := false
	for _, e := range audit.Items {
		replayed = replayed || e.Action == "consent.record" && e.ActorID == "ledger-replay"
	}
	if !replayed {
		t.Errorf("unsub's audit %+v; want the replayed withdrawal recorded by the replay", audit.Items)
	}
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "After", "text": "Hello again."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	done := p.waitCampaign(camp.ID, func(c campaignJSON) bool { return c.Status == "sent" && c.Counts.Queued == 0 })
	if done.Counts.Sent != 1 || done.Counts.SkippedBy["withdrawn"] != 2 || done.Counts.SkippedBy["refused"] != 1 ||
		done.Counts.SkippedBy["objected"] != 1 || done.Counts.SkippedBy["restricted"] != 1 || done.Counts.SkippedBy["suppressed"] != 1 {
		t.Errorf("campaign after the restore: %+v; want only kept mailed", done.Counts)
	}
	if m := sink.next(t); len(m.To) != 1 || m.To[0] != "kept.person@example.org" {
		t.Errorf("mailed %v; want kept.person only", m.To)
	}
	p.stop()
	rep := importJSON(t, restored, writeFile(t, "again.csv", "Email Address,First Name,OPTIN_TIME\nnewbie.person@example.org,Nyberg,2025-01-01 00:00:00\ncleaned.only@example.org,Clea,2025-01-01 00:00:00\n"))
	if rep.Created != 0 || rep.Suppressed != 2 {
		t.Errorf("import after the restore: %+v; want the erased and the cleaned address suppressed, none created", rep)
	}
	assertNoPlaintext(t, restored, []string{"newbie.person", "Nyberg"})
}

// importCLI runs tillit import --format mailchimp --json with the extra flags and returns the
// summed report.
func importCLI(t *testing.T, dir string, flags []string, file string) reportJSON {
	t.Helper()
	args := append([]string{"import", "--data", dir, "--format", "mailchimp", "--json"}, flags...)
	code, out, stderr := runCLI(t, append(args, file)...)
	if code != 0 {
		t.Fatalf("import %v exited %d: %s", flags, code, stderr)
	}
	var got struct{ Reports []reportJSON }
	if err := jsonUnmarshal(out, &got); err != nil || len(got.Reports) != 1 {
		t.Fatalf("report %q: %v", out, err)
	}
	return got.Reports[0]
}

// TestRestoreKeepsAListUnsubscribe (issue 11, items 1 and 3): an imported unsubscribed row for
// an address with no contact is kept as the address's keyed hash for the list's purpose only,
// and the ledger did not carry it: after a restore from a backup taken before that import, the
// next import of the list subscribed the person again. The ledger now carries it as a
// list_unsubscribe line (hash, purpose, when the person left, when it was recorded: --since
// reads the latter, as the file's UNSUB_TIME may predate the backup).
func TestRestoreKeepsAListUnsubscribe(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	if st := p.do("POST", "/api/v1/purposes", map[string]any{"id": "offers", "name": "Offers", "lawful_basis": "dpv:Consent"}, nil); st != 201 {
		t.Fatalf("purpose: %d", st)
	}
	token := p.token
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	backupAt := time.Now().UTC()

	// After the backup: the offers list's export says the address left it (in 2024).
	left := importCLI(t, dir, []string{"--purpose", "offers", "--status", "unsubscribed"},
		writeFile(t, "unsub.csv", "Email Address,First Name,UNSUB_TIME\nleft.offers@example.org,Lea,2024-05-01 10:00:00\n"))
	if left.ListUnsub != 1 || left.Created != 0 {
		t.Fatalf("unsubscribed import: %+v; want the address kept for offers, nobody created", left)
	}
	code, since, stderr := runCLI(t, "ledger", "export", "--data", dir, "--since", backupAt.Format(time.RFC3339Nano))
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	lines := readLedger(t, since)
	if len(lines) != 1 || lines[0].Type != "list_unsubscribe" || strings.Contains(since, "left.offers") || !strings.Contains(since, `"purpose":"offers"`) {
		t.Errorf("export --since the backup:\n%s\nwant one list_unsubscribe line for offers, no address", since)
	}
	ledgerFile := writeFile(t, "ledger.jsonl", since)

	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	first := replay(t, "ledger", "replay", "--data", restored, ledgerFile)
	if c := first.Types["list_unsubscribe"]; first.Lines != 1 || c["applied"] != 1 || c["already_present"] != 0 || c["not_present"] != 0 {
		t.Errorf("first replay: %+v; want the list_unsubscribe applied", first)
	}
	second := replay(t, "ledger", "replay", "--data", restored, ledgerFile)
	if c := second.Types["list_unsubscribe"]; c["applied"] != 0 || c["already_present"] != 1 {
		t.Errorf("second replay: %+v; want it already present", second)
	}
	if code, again, _ := runCLI(t, "ledger", "export", "--data", restored, "--since", backupAt.Format(time.RFC3339Nano)); code != 0 || again != since {
		t.Errorf("export of the restored directory:\n%s\nwant the replayed ledger:\n%s", again, since)
	}

	// The next import of the offers list subscribes nobody for that address.
	back := importCLI(t, restored, []string{"--purpose", "offers", "--status", "subscribed"},
		writeFile(t, "sub.csv", "Email Address,First Name,OPTIN_TIME\nleft.offers@example.org,Lea,2025-01-01 00:00:00\n"))
	if back.Created != 0 || back.ConsentsRecorded != 0 || back.Suppressed != 1 {
		t.Errorf("subscribed import after the restore: %+v; want the address suppressed, nobody created", back)
	}
	p = startProgram(t, restored)
	p.token = token
	if ok, reason := p.gate(map[string]string{"email": "left.offers@example.org"}, "offers"); ok || reason != "withdrawn" {
		t.Errorf("gate for offers after the restore: %v %s; want refused, withdrawn", ok, reason)
	}
}
