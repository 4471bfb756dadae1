package cli_test

import (
	"net/url"
	"path/filepath"
	"regexp"
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

// TestReplayRefusesAnotherInstallationsFile: ledger replay --data on a folder with other keys
// (a fresh install) exited 0 and "applied" erasures and suppressions whose keyed hashes belong to
// another key: they matched nothing, and the next import re-created the erased person. The export
// now begins with a header naming the blind-index key by an id that reveals nothing of it; replay
// refuses a file written under another key (exit 2, nothing applied) and replays a file of the old
// form, without header, with a warning that it could not be checked.
func TestReplayRefusesAnotherInstallationsFile(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	var gone contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "erased.elsewhere@example.org"}, &gone); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.do("DELETE", "/api/v1/contacts/"+gone.ID, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	p.stop()
	code, full, stderr := runCLI(t, "ledger", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	ledgerFile := writeFile(t, "ledger.jsonl", full)

	other := t.TempDir()
	startProgram(t, other).stop()
	if code, out, stderr := runCLI(t, "ledger", "replay", "--data", other, ledgerFile); code != 2 || !strings.Contains(stderr, "another installation's keys") || out != "" {
		t.Errorf("replay on another installation: exit %d %q %s; want 2 saying the file was written under other keys", code, out, stderr)
	}
	if code, again, _ := runCLI(t, "ledger", "export", "--data", other); code != 0 || len(readLedger(t, again)) != 0 {
		t.Errorf("export of the other installation after the refused replay:\n%s\nwant nothing applied", again)
	}
	rep := importJSON(t, other, writeFile(t, "again.csv", "Email Address,First Name,OPTIN_TIME\nerased.elsewhere@example.org,E,2025-01-01 00:00:00\n"))
	if rep.Created != 1 {
		t.Errorf("import on the other installation: %+v; want the address created there (it knows nothing of the erasure)", rep)
	}

	// A file of the old form (no header) on the installation it came from: applied, with a warning.
	noHeader := writeFile(t, "old.jsonl", full[strings.Index(full, "\n")+1:])
	code, out, stderr := runCLI(t, "ledger", "replay", "--data", dir, noHeader)
	if code != 0 || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "could not be checked") || !strings.Contains(out, `"already_present": 1`) {
		t.Errorf("replay of a file without header: exit %d %s %s; want 0 with a warning that its key could not be checked", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, "ledger", "replay", "--data", dir, ledgerFile); code != 0 || stderr != "" {
		t.Errorf("replay on its own installation: exit %d %s; want 0, no warning", code, stderr)
	}
}

// TestReplayReadsSeveralFiles: the README says "(several files: oldest first)" but ledger replay
// A B was a usage error. Several files are read and checked whole before any line is applied (a
// bad line in the second applies nothing of the first), then applied in the order given.
func TestReplayReadsSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	token := p.token
	ids := map[string]string{}
	for _, name := range []string{"first", "second"} {
		var c contactJSON
		if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": name + ".file@example.org"}, &c); st != 201 {
			t.Fatalf("create: %d", st)
		}
		ids[name] = c.ID
	}
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)

	exportAfter := func(name string) string {
		t.Helper()
		at := time.Now().UTC()
		p := startProgram(t, dir)
		p.token = token
		if st := p.do("PUT", "/api/v1/contacts/"+ids[name]+"/restriction", nil, nil); st != 200 {
			t.Fatalf("restrict %s: %d", name, st)
		}
		p.stop()
		code, out, stderr := runCLI(t, "ledger", "export", "--data", dir, "--since", at.Format(time.RFC3339Nano))
		if code != 0 || len(readLedger(t, out)) != 1 {
			t.Fatalf("export since %s: %d %s %s; want one restriction", name, code, out, stderr)
		}
		return writeFile(t, name+".jsonl", out)
	}
	a, b := exportAfter("first"), exportAfter("second")
	bad := writeFile(t, "bad.jsonl", "{\"type\":\"restriction\",\"contact_id\":\"x\"}\n")

	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	if code, _, stderr := runCLI(t, "ledger", "replay", "--data", restored, a, bad); code != 2 || !strings.Contains(stderr, "bad.jsonl line 1: restricted_at") {
		t.Errorf("replay of a good and a bad file: exit %d %s; want 2 naming the bad file, line and field", code, stderr)
	}
	r := replay(t, "ledger", "replay", "--data", restored, a, b, a)
	if c := r.Types["restriction"]; r.Lines != 3 || c["applied"] != 2 || c["already_present"] != 1 {
		t.Errorf("replay of a, b, a: %+v; want 3 lines: both applied (nothing of the refused run), a again already present", r)
	}
	p = startProgram(t, restored)
	p.token = token
	for name := range ids {
		if ok, reason := p.gate(map[string]string{"contact_id": ids[name]}, "newsletter"); ok || reason != "restricted" {
			t.Errorf("gate for %s after the replay: %v %s; want restricted", name, ok, reason)
		}
	}
}

// TestReplayCountsErasuresAsTheReadmeSays: an erasure line for a contact the backup does not hold
// (created and erased after it) counted as applied while the README said not_present. Counts and
// README now say the same: applied when the contact was erased again or its address hashes were
// put back; not_present only when the backup does not hold it and the line has no hashes to put
// back (the old form); a second replay finds both in the erasure ledger.
func TestReplayCountsErasuresAsTheReadmeSays(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	token := p.token
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	backupAt := time.Now().UTC()
	p = startProgram(t, dir)
	p.token = token
	var later contactJSON
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "created.after@example.org"}, &later); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := p.do("DELETE", "/api/v1/contacts/"+later.ID, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	p.stop()
	code, since, _ := runCLI(t, "ledger", "export", "--data", dir, "--since", backupAt.Format(time.RFC3339Nano))
	if code != 0 {
		t.Fatal("export")
	}
	old := writeFile(t, "old.jsonl", `{"contact_id":"never-held","erased_at":"2025-01-01T00:00:00Z"}`+"\n")
	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	for i, want := range []map[string]int{{"applied": 1, "already_present": 0, "not_present": 1}, {"applied": 0, "already_present": 2, "not_present": 0}} {
		r := replay(t, "ledger", "replay", "--data", restored, old, writeFile(t, "since.jsonl", since))
		if c := r.Types["erasure"]; c["applied"] != want["applied"] || c["already_present"] != want["already_present"] || c["not_present"] != want["not_present"] {
			t.Errorf("replay %d: erasure %v; want %v (the hashes of the contact not held put back; the old line without hashes not present)", i+1, c, want)
		}
	}
	rep := importJSON(t, restored, writeFile(t, "again.csv", "Email Address,First Name,OPTIN_TIME\ncreated.after@example.org,C,2025-01-01 00:00:00\n"))
	if rep.Created != 0 || rep.Suppressed != 1 {
		t.Errorf("import after the restore: %+v; want the erased address suppressed", rep)
	}
}

// TestRestoreKeepsAVerifiedRequest (A3, B3): a verified erasure request made after the backup
// disappeared on restore: the ledger carried no requests, so after the restore and replay the gate
// allowed the person who had confirmed "erase me" again and nobody answered the request. The
// ledger now carries verified erasure, restriction, objection and withdrawal requests that are
// open or were closed since --since (ids, type, state, times; no address or message); replay
// re-creates an open request the backup lacks, bound to its contact, with its due date and a
// note for staff, and closes a request the backup holds open that was closed after it.
func TestRestoreKeepsAVerifiedRequest(t *testing.T) {
	dir := t.TempDir()
	sink := startSMTP(t)
	env := map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}
	p := startProgramEnv(t, dir, env)
	token := p.token
	ids := map[string]string{}
	for _, name := range []string{"eraser", "restrictor"} {
		var c contactJSON
		if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": name + ".req@example.org", "first_name": "Req" + name}, &c); st != 201 {
			t.Fatalf("create: %d", st)
		}
		if st := p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
			t.Fatalf("consent: %d", st)
		}
		ids[name] = c.ID
	}
	ask := func(typ, addr string) requestJSON {
		t.Helper()
		if st, _ := postForm(t, p.base, "/p/requests", url.Values{"type": {typ}, "email": {addr}}); st != 200 {
			t.Fatalf("%s intake: %d", typ, st)
		}
		_, text := parseMessage(t, sink.next(t))
		v, _ := url.Parse(verifyRE.FindString(text))
		if st, _ := postForm(t, p.base, v.Path, nil); st != 200 {
			t.Fatalf("%s verify: %d", typ, st)
		}
		var queue struct{ Items []requestJSON }
		p.do("GET", "/api/v1/requests?type="+typ+"&state=in_progress", nil, &queue)
		if len(queue.Items) != 1 {
			t.Fatalf("%s queue: %+v", typ, queue.Items)
		}
		return queue.Items[0]
	}
	restriction := ask("restriction", "restrictor.req@example.org") // in the backup, open
	p.stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	backupAt := time.Now().UTC()

	p = startProgramEnv(t, dir, env)
	p.token = token
	erasure := ask("erasure", "eraser.req@example.org")
	if ok, reason := p.gate(map[string]string{"contact_id": ids["eraser"]}, "newsletter"); ok || reason != "erasure_requested" {
		t.Fatalf("gate after the verified erasure request: %v %s", ok, reason)
	}
	if st := p.do("POST", "/api/v1/requests/"+restriction.ID+"/reject", map[string]any{"reason": "The data is needed for an open invoice."}, nil); st != 200 {
		t.Fatalf("reject: %d", st)
	}
	p.stop()
	code, since, stderr := runCLI(t, "ledger", "export", "--data", dir, "--since", backupAt.Format(time.RFC3339Nano))
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	if strings.Contains(since, "example.org") || strings.Contains(since, "invoice") || strings.Count(since, `"type":"request"`) != 2 ||
		// Each carries the keyed hash of the person's address (replay by address).
		!regexp.MustCompile(`"contact_id":"`+ids["eraser"]+`","hash":"[0-9a-f]{32}","request_id":"`+erasure.ID+`","request_type":"erasure","state":"in_progress"`).MatchString(since) ||
		!regexp.MustCompile(`"contact_id":"`+ids["restrictor"]+`","hash":"[0-9a-f]{32}","request_id":"`+restriction.ID+`","request_type":"restriction","state":"rejected"`).MatchString(since) {
		t.Fatalf("export --since the backup:\n%s\nwant the open erasure and the rejected restriction requests, no address or reason", since)
	}
	file := writeFile(t, "ledger.jsonl", since)

	restored := filepath.Join(t.TempDir(), "restored")
	copyDir(t, backup, restored)
	for i, want := range [][2]int{{2, 0}, {0, 2}} {
		r := replay(t, "ledger", "replay", "--data", restored, file)
		if c := r.Types["request"]; c["applied"] != want[0] || c["already_present"] != want[1] || c["not_present"] != 0 {
			t.Errorf("replay %d: request %v; want %d applied, %d already present", i+1, c, want[0], want[1])
		}
	}
	p = startProgramEnv(t, restored, env)
	p.token = token
	if ok, reason := p.gate(map[string]string{"contact_id": ids["eraser"]}, "newsletter"); ok || reason != "erasure_requested" {
		t.Errorf("gate for the person who asked to be erased, after the restore: %v %s; want erasure_requested", ok, reason)
	}
	if ok, reason := p.gate(map[string]string{"contact_id": ids["restrictor"]}, "newsletter"); !ok || reason != "consent_given" {
		t.Errorf("gate for the person whose restriction request was rejected after the backup: %v %s; want consent_given", ok, reason)
	}
	var got requestJSON
	if st := p.do("GET", "/api/v1/requests/"+erasure.ID, nil, &got); st != 200 || got.State != "in_progress" || got.ContactID != ids["eraser"] || !got.DueAt.Equal(erasure.DueAt) {
		t.Errorf("erasure request after the restore: %d %+v; want it in progress, bound to its contact, due %v", st, got, erasure.DueAt)
	}
	var tl struct {
		Items []struct{ Action, Note string }
	}
	p.do("GET", "/api/v1/requests/"+erasure.ID+"/timeline", nil, &tl)
	if len(tl.Items) == 0 || !strings.Contains(tl.Items[len(tl.Items)-1].Note, "not in the backup") {
		t.Errorf("timeline of the re-created request: %+v; want a note that the person's message was not in the backup", tl.Items)
	}
	if st := p.do("GET", "/api/v1/requests/"+restriction.ID, nil, &got); st != 200 || got.State != "rejected" {
		t.Errorf("restriction request after the restore: %d %+v; want rejected", st, got)
	}
	// Staff can answer the re-created request: completing it erases the person.
	if st := p.do("POST", "/api/v1/requests/"+erasure.ID+"/complete", map[string]any{}, nil); st != 200 {
		t.Errorf("complete the re-created erasure request: %d", st)
	}
	if st := p.do("GET", "/api/v1/contacts/"+ids["eraser"], nil, nil); st != 404 {
		t.Errorf("contact after completing the erasure: %d; want 404", st)
	}
}
