package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/tillit/tillit/internal/cli"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// runCLIEnv is runCLI with TILLIT_* settings in env.
func runCLIEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: withStore(t, args, env), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

// ageIdentity makes an age identity, writes it to a file and returns the file and its recipient.
func ageIdentity(t *testing.T, name string) (file, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file = writeFile(t, name, "# "+name+"\n"+id.String()+"\n")
	return file, id.Recipient().String()
}

// backupSummary is what tillit backup prints, as far as the tests read it.
type backupSummary struct {
	File         string `json:"file"`
	Size         int64  `json:"size"`
	SnapshotMS   int64  `json:"snapshot_ms"`
	TookMS       int64  `json:"took_ms"`
	AuditSeq     int64  `json:"audit_seq"`
	LedgerLines  int    `json:"ledger_lines"`
	KeysExpireAt string `json:"keys_expire_at"`
	VerifyKey    string `json:"verify_key"`
	Parts        []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	} `json:"parts"`
}

// runBackup runs tillit backup with args and decodes its summary.
func runBackup(t *testing.T, args ...string) backupSummary {
	t.Helper()
	code, out, stderr := runCLI(t, append([]string{"backup"}, args...)...)
	if code != 0 {
		t.Fatalf("backup %v: exit %d %s", args, code, stderr)
	}
	var s backupSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("backup summary %q: %v", out, err)
	}
	return s
}

// skipOnPostgres skips a test of the SQLite files' backup when the tests run on PostgreSQL.
func skipOnPostgres(t *testing.T, dir string) {
	t.Helper()
	if testdb.DatabaseURL(t, dir) != "" {
		t.Skip("tillit backup copies SQLite files; on PostgreSQL it refuses (TestBackupRefusesPostgreSQL)")
	}
}

// TestBackupWhileServingRestoreAndReplay (the backup issue): a backup taken while tillit serve
// answers and contacts are being created restores, into an empty directory, a store whose audit
// log verifies and whose every contact opens; a person erased and a person who unsubscribed
// after the backup stay so once the restore has replayed the live system's ledger (the erased
// contact absent, the gate refusing both), and a person who did neither is mailed as before.
func TestBackupWhileServingRestoreAndReplay(t *testing.T) {
	dir := t.TempDir()
	skipOnPostgres(t, dir)
	sink := startSMTP(t)
	mailEnv := map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.addr + "?tls=none", "TILLIT_MAIL_FROM": "news@tillit.example"}
	p := startProgramEnv(t, dir, mailEnv)
	token := p.token
	ids := map[string]string{}
	for _, name := range []string{"erased", "unsub", "kept"} {
		var c contactJSON
		if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": name + ".backup@example.org", "first_name": "Backup" + name}, &c); st != 201 {
			t.Fatalf("create %s: %d", name, st)
		}
		ids[name] = c.ID
		if st := p.do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
			t.Fatalf("consent %s: %d", name, st)
		}
	}

	// Writes go on while the backup is taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var created []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Not p.do: its t.Fatal must not run on this goroutine.
			req, _ := http.NewRequest("POST", p.base+"/api/v1/contacts", strings.NewReader(fmt.Sprintf(`{"email":"during.%d@example.org","first_name":"During"}`, i)))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("create during the backup: %v", err)
				return
			}
			var c contactJSON
			err = json.NewDecoder(resp.Body).Decode(&c)
			resp.Body.Close()
			if resp.StatusCode != 201 || err != nil {
				t.Errorf("create during the backup: %d %v", resp.StatusCode, err)
				return
			}
			created = append(created, c.ID)
		}
	}()
	dataID, dataTo := ageIdentity(t, "data-identity.txt")
	keysID, keysTo := ageIdentity(t, "keys-identity.txt")
	file := filepath.Join(t.TempDir(), "tillit.backup")
	sum := runBackup(t, "--data", dir, "--recipient", dataTo, "--with-keys", "--keys-recipient", keysTo, file)
	close(stop)
	wg.Wait()
	if len(created) == 0 {
		t.Fatal("no contact was created while the backup ran")
	}
	if sum.AuditSeq == 0 || sum.KeysExpireAt == "" || !strings.HasPrefix(sum.VerifyKey, "tillit-backup-ed25519:") || len(sum.Parts) != 3 {
		t.Fatalf("backup summary %+v", sum)
	}
	raw, _ := os.ReadFile(file)
	for _, secret := range []string{"example.org", "Backup", "SQLite format 3"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the backup file holds %q in plain", secret)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".tillit-*")); len(left) > 0 {
		t.Errorf("scratch left beside the backup: %v", left)
	}

	// After the backup: one person is erased, another unsubscribes by the link of a campaign.
	if st := p.do("DELETE", "/api/v1/contacts/"+ids["erased"], nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	var camp campaignJSON
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "Before", "text": "Hello."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	var link string
	for range 2 {
		msg, text := parseMessage(t, sink.next(t))
		if strings.Contains(msg.Header.Get("To"), "unsub.backup@") {
			link = regexp.MustCompile(`https?://\S+/u/[A-Za-z0-9_-]+`).FindString(text)
		}
	}
	if link == "" {
		t.Fatal("no unsubscribe link in the message to unsub.backup")
	}
	if resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("unsubscribe: %v %v", resp, err)
	}
	code, live, stderr := runCLI(t, "ledger", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("ledger export: %d %s", code, stderr)
	}
	ledgerFile := writeFile(t, "ledger.jsonl", live)
	p.stop()

	// The disk is lost. The backup is restored into an empty directory, with the root key kept
	// apart, and the live system's ledger replayed.
	env := map[string]string{"TILLIT_ROOT_KEY_FILE": filepath.Join(dir, "root.key")}
	restored := filepath.Join(t.TempDir(), "restored")
	code, out, stderr := runCLIEnv(t, env, "restore", "--data", restored, "--identity", dataID, "--identity", keysID, "--verify-key", sum.VerifyKey, "--ledger", ledgerFile, file)
	if code != 0 {
		t.Fatalf("restore: exit %d %s", code, stderr)
	}
	var res struct {
		Replay replayCounts `json:"replay"`
		Audit  struct {
			OK      bool  `json:"ok"`
			HeadSeq int64 `json:"head_seq"`
		} `json:"audit"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("restore summary %q: %v", out, err)
	}
	if res.Replay.Types["erasure"]["applied"] != 1 || res.Replay.Types["withdrawal"]["applied"] != 1 || !res.Audit.OK || res.Audit.HeadSeq <= sum.AuditSeq {
		t.Errorf("restore: %s; want the erasure and the withdrawal applied and the log intact past the backup's head (%d)", out, sum.AuditSeq)
	}
	entries, _ := os.ReadDir(restored)
	for _, e := range entries {
		if n := e.Name(); n != "tillit.db" && n != "keys.db" && n != "keysets.json" && n != "mail" {
			t.Errorf("the restored directory holds %s; want the store's files and keysets.json only (no %s, no copies, no root key)", n, cli.RestoreMarker)
		}
	}
	if code, out, stderr := runCLIEnv(t, env, "audit", "verify", "--data", restored); code != 0 {
		t.Errorf("audit verify of the restored directory: exit %d %s %s", code, out, stderr)
	}
	if code, again, _ := runCLIEnv(t, env, "ledger", "export", "--data", restored); code != 0 || again != live {
		t.Errorf("the restored directory's ledger:\n%s\nwant the live one:\n%s", again, live)
	}

	p = startProgramEnv(t, restored, map[string]string{"TILLIT_ROOT_KEY_FILE": env["TILLIT_ROOT_KEY_FILE"], "TILLIT_SMTP_URL": mailEnv["TILLIT_SMTP_URL"], "TILLIT_MAIL_FROM": mailEnv["TILLIT_MAIL_FROM"]})
	p.token = token
	if st := p.do("GET", "/api/v1/contacts/"+ids["erased"], nil, nil); st != 404 {
		t.Errorf("the erased contact after the restore: %d; want 404", st)
	}
	for who, want := range map[string]string{"erased.backup@example.org": "suppressed", "unsub.backup@example.org": "withdrawn", "kept.backup@example.org": "consent_given"} {
		if _, reason := p.gate(map[string]string{"email": who}, "newsletter"); reason != want {
			t.Errorf("gate for %s after the restore: %s; want %s", who, reason, want)
		}
	}
	if st := p.do("GET", "/api/v1/contacts/"+ids["kept"], nil, nil); st != 200 {
		t.Errorf("the kept contact after the restore: %d; want 200", st)
	}
	// Every contact the backup holds opens: its key came with it, at the same commit.
	present := 0
	for _, id := range created {
		switch st := p.do("GET", "/api/v1/contacts/"+id, nil, nil); st {
		case 200:
			present++
		case 404: // created after the snapshot
		default:
			t.Errorf("contact %s created during the backup: %d after the restore", id, st)
		}
	}
	t.Logf("%d of the %d contacts created during the backup are in it", present, len(created))
	p.do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "After", "text": "Hello again."}, &camp)
	p.do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil)
	done := p.waitCampaign(camp.ID, func(c campaignJSON) bool { return c.Status == "sent" && c.Counts.Queued == 0 })
	if done.Counts.Sent != 1 || done.Counts.SkippedBy["withdrawn"] != 1 {
		t.Errorf("campaign after the restore: %+v; want kept mailed and unsub skipped", done.Counts)
	}
	if m := sink.next(t); len(m.To) != 1 || m.To[0] != "kept.backup@example.org" {
		t.Errorf("mailed %v; want kept.backup only", m.To)
	}
	p.stop()
	// The scan opens the files under the directory's keys: give it the root key kept apart.
	rootKey, _ := os.ReadFile(env["TILLIT_ROOT_KEY_FILE"])
	os.WriteFile(filepath.Join(restored, "root.key"), rootKey, 0o600)
	assertNoPlaintext(t, restored, []string{"erased.backup", "Backuperased"})
}

// partOffsets reads where each file of a backup file begins and how long it is.
func partOffsets(t *testing.T, raw []byte) map[string][2]int64 {
	t.Helper()
	out := map[string][2]int64{}
	cr := &countingReader{r: bytes.NewReader(raw)}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = [2]int64{cr.n, h.Size}
	}
	return out
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestTamperedBackupIsRefused: a backup file with a byte flipped in any of its files, cut short,
// with the key part of another backup, checked against another installation's verify key, or
// opened with the wrong identity is refused before anything is written (the data directory is
// not even made); so are a directory that holds files, a backup without keys, and a key part
// past its retention, and a root key that does not open the backup's keysets (what was written
// is removed). A newer backup without keys serves as the newer ledger.
func TestTamperedBackupIsRefused(t *testing.T) {
	dir := t.TempDir()
	skipOnPostgres(t, dir)
	p := startProgram(t, dir)
	var c contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "tamper.backup@example.org"}, &c)
	dataID, dataTo := ageIdentity(t, "data-identity.txt")
	keysID, keysTo := ageIdentity(t, "keys-identity.txt")
	out := t.TempDir()
	file := filepath.Join(out, "a.backup")
	sum := runBackup(t, "--data", dir, "--recipient", dataTo, "--with-keys", "--keys-recipient", keysTo, file)
	other := filepath.Join(out, "b.backup")
	runBackup(t, "--data", dir, "--recipient", dataTo, "--with-keys", "--keys-recipient", keysTo, other)
	if st := p.do("DELETE", "/api/v1/contacts/"+c.ID, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	noKeys := filepath.Join(out, "newer-no-keys.backup")
	runBackup(t, "--data", dir, "--recipient", dataTo, noKeys)
	expired := filepath.Join(out, "expired.backup")
	runBackup(t, "--data", dir, "--recipient", dataTo, "--with-keys", "--keys-retention", "1ns", expired)
	p.stop()
	otherDir := t.TempDir()
	startProgram(t, otherDir).stop()
	otherInst := filepath.Join(out, "other-installation.backup")
	otherSum := runBackup(t, "--data", otherDir, "--recipient", dataTo, "--with-keys", otherInst)

	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	offsets := partOffsets(t, raw)
	env := map[string]string{"TILLIT_ROOT_KEY_FILE": filepath.Join(dir, "root.key")}
	restoreInto := func(target string, verifyKey string, backupFile string, extra ...string) (int, string) {
		t.Helper()
		args := append([]string{"restore", "--data", target, "--identity", dataID, "--identity", keysID, "--verify-key", verifyKey}, extra...)
		code, _, stderr := runCLIEnv(t, env, append(args, backupFile)...)
		return code, stderr
	}
	refused := func(what, backupFile, verifyKey, want string, extra ...string) {
		t.Helper()
		target := filepath.Join(t.TempDir(), "restored")
		code, stderr := restoreInto(target, verifyKey, backupFile, extra...)
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d %s; want refused (%q)", what, code, stderr, want)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("%s: the data directory was made (%v); want nothing written", what, err)
		}
	}
	tampered := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, part := range []string{"manifest.json", "manifest.sig", "data.age", "ledger.age", "keys.age"} {
		at := offsets[part]
		for _, off := range []int64{at[0] - 512 + 100, at[0], at[0] + at[1]/2, at[0] + at[1] - 1} { // its header, first, middle, last byte
			b := bytes.Clone(raw)
			b[off] ^= 0x20
			refused(fmt.Sprintf("%s: byte %d flipped", part, off), tampered("flipped", b), sum.VerifyKey, "backup refused")
		}
	}
	refused("cut short", tampered("cut", raw[:len(raw)-700]), sum.VerifyKey, "cut short")
	ob, _ := os.ReadFile(other)
	oo := partOffsets(t, ob)
	swapped := append(bytes.Clone(raw[:offsets["keys.age"][0]]), ob[oo["keys.age"][0]:]...)
	refused("the keys part of another backup", tampered("swapped", swapped), sum.VerifyKey, "keys.age")
	refused("another installation's verify key", file, otherSum.VerifyKey, "signature does not verify")
	refused("another installation's backup", otherInst, sum.VerifyKey, "signature does not verify")
	{
		wrongID, _ := ageIdentity(t, "wrong.txt")
		target := filepath.Join(t.TempDir(), "restored")
		code, _, stderr := runCLIEnv(t, env, "restore", "--data", target, "--identity", wrongID, "--verify-key", sum.VerifyKey, file)
		if code == 0 || !strings.Contains(stderr, "none of the identities given opens part data.age") {
			t.Errorf("the wrong identity: exit %d %s", code, stderr)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("the wrong identity: the data directory was made")
		}
		code, _, stderr = runCLIEnv(t, env, "restore", "--data", target, "--identity", dataID, "--verify-key", sum.VerifyKey, file)
		if code == 0 || !strings.Contains(stderr, "part keys.age, which is encrypted to the keys recipients") {
			t.Errorf("without the key part's identity: exit %d %s", code, stderr)
		}
	}
	{
		target := filepath.Join(t.TempDir(), "restored")
		otherRoot := map[string]string{"TILLIT_ROOT_KEY_FILE": filepath.Join(otherDir, "root.key")}
		code, _, stderr := runCLIEnv(t, otherRoot, "restore", "--data", target, "--identity", dataID, "--identity", keysID, "--verify-key", sum.VerifyKey, file)
		if code == 0 || !strings.Contains(stderr, "does not open the keysets of") || !strings.Contains(stderr, "nothing was restored") {
			t.Errorf("another installation's root key: exit %d %s", code, stderr)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("another installation's root key: the data directory is left (%v); want it removed with what was written", err)
		}
	}
	refused("a backup without keys", noKeys, sum.VerifyKey, "holds no key store")
	refused("a key part past its retention", expired, sum.VerifyKey, "expired at")
	refused("a newer backup of another installation", file, sum.VerifyKey, "--ledger: backup refused", "--ledger", otherInst)
	_, otherLedger, _ := runCLI(t, "ledger", "export", "--data", otherDir)
	refused("a newer ledger of another installation", file, sum.VerifyKey, "another installation", "--ledger", writeFile(t, "other.jsonl", otherLedger))

	full := filepath.Join(t.TempDir(), "full")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(full, "notes.txt"), []byte("mine"), 0o600)
	if code, stderr := restoreInto(full, sum.VerifyKey, file); code == 0 || !strings.Contains(stderr, "is not empty (it holds notes.txt)") {
		t.Errorf("restore into a directory that holds a file: exit %d %s", code, stderr)
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the non-empty directory holds %d entries after the refused restore; want its one file", len(entries))
	}

	// The untouched file restores, with the newer backup (no keys) as the newer ledger: the
	// contact erased after the first backup is erased again.
	target := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	code, outJSON := restoreInto(target, sum.VerifyKey, file, "--ledger", noKeys)
	if code != 0 {
		t.Fatalf("restore of the untouched backup: exit %d %s", code, outJSON)
	}
	token := p.token
	p = startProgramEnv(t, target, env)
	p.token = token
	if st := p.do("GET", "/api/v1/contacts/"+c.ID, nil, nil); st != 404 {
		t.Errorf("the contact erased after the backup: %d after the restore; want 404", st)
	}
}

// TestRestoreUnfinishedIsRefused: a data directory a restore did not finish (its marker is
// there) is refused by every command, serve included, naming the cause.
func TestRestoreUnfinishedIsRefused(t *testing.T) {
	dir := t.TempDir()
	skipOnPostgres(t, dir)
	startProgram(t, dir).stop()
	if err := os.WriteFile(filepath.Join(dir, cli.RestoreMarker), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"serve", "--data", dir, "--listen", "127.0.0.1:0"}, {"audit", "verify", "--data", dir}, {"ledger", "export", "--data", dir}} {
		if code, _, stderr := runCLI(t, args...); code != 1 || !strings.Contains(stderr, "restore into "+dir+" did not finish") {
			t.Errorf("%v: exit %d %s; want refused", args, code, stderr)
		}
	}
}

// TestBackupRefusesPostgreSQL: on a PostgreSQL store tillit backup and tillit restore refuse,
// pointing to pg_dump of both schemas and the ledger, without reaching the server.
func TestBackupRefusesPostgreSQL(t *testing.T) {
	_, to := ageIdentity(t, "id.txt")
	url := "postgres://tillit@127.0.0.1:1/crm?schema=tillit"
	if code, _, stderr := runCLI(t, "backup", "--data", t.TempDir(), "--database-url", url, "--recipient", to, filepath.Join(t.TempDir(), "b")); code != 1 || !strings.Contains(stderr, "pg_dump -n SCHEMA -n SCHEMA_keys") || !strings.Contains(stderr, "tillit ledger export") {
		t.Errorf("backup on PostgreSQL: exit %d %s", code, stderr)
	}
	id, _ := ageIdentity(t, "id2.txt")
	if code, _, stderr := runCLI(t, "restore", "--data", t.TempDir(), "--database-url", url, "--identity", id, "--verify-key", "tillit-backup-ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", filepath.Join(t.TempDir(), "b")); code != 1 || !strings.Contains(stderr, "pg_restore") {
		t.Errorf("restore on PostgreSQL: exit %d %s", code, stderr)
	}
}

// TestBackupUsage: missing recipients, key flags without --with-keys and a bad retention are
// usage errors (exit 2) that say what to give.
func TestBackupUsage(t *testing.T) {
	dir := t.TempDir()
	_, to := ageIdentity(t, "id.txt")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--data", dir, "f"}, "--recipient age1"},
		{[]string{"backup", "--data", dir, "--recipient", "age1nope", "f"}, "no age recipient"},
		{[]string{"backup", "--data", dir, "--recipient", to, "--keys-recipient", to, "f"}, "go with --with-keys"},
		{[]string{"backup", "--data", dir, "--recipient", to, "--with-keys", "--keys-retention", "-1d", "f"}, "keys-retention"},
		{[]string{"backup", "--data", dir, "--recipient", to}, "tillit backup"},
		{[]string{"restore", "--data", dir, "f"}, "--verify-key is missing"},
		{[]string{"restore", "--data", dir, "--verify-key", "tillit-backup-ed25519:AAAA", "f"}, "--verify-key"},
	} {
		if code, _, stderr := runCLI(t, c.args...); code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d %s; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
