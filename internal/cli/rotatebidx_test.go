package cli_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/cli"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// bidxInfo reads the bidx keyset's keys from dir's keysets.json with its root key.
func bidxInfo(t *testing.T, dir string) keys.KeysetInfo {
	t.Helper()
	root, _, err := keys.OpenRootFile(filepath.Join(dir, "root.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	info, err := keys.ReadInfo(filepath.Join(dir, "keysets.json"), root)
	if err != nil {
		t.Fatal(err)
	}
	return info[keys.KeysetBidx]
}

// TestRotateBidxWhileServing rotates the blind-index keyset with tillit keys rotate --bidx while a
// server takes writes, reads and lookups by e-mail, and an erasure and a withdrawal happen once
// the new key is primary: no call fails; the new key is primary and the old one stays, enabled
// for lookups; after a restart every contact is found by its e-mail and phone; an address erased
// before the rotation is still refused by the gate and not created again (and, created again on
// the person's request, the new contact is suppressed: the entry made under the old key moved
// to its hash); a ledger export and a backup made before the rotation replay and restore; and
// the audit chain verifies.
func TestRotateBidxWhileServing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 150)
	before := bidxInfo(t, dir)
	if len(before.Keys) != 1 {
		t.Fatalf("bidx keyset before: %v; want one key", before)
	}
	p := startProgram(t, dir)
	phones := map[string]string{}
	for i := range 5 {
		var c contactJSON
		phone := fmt.Sprintf("+4670123450%d", i)
		if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": fmt.Sprintf("phone%d@example.net", i), "phone": phone}, &c); st != 201 {
			t.Fatalf("create with a phone: %d", st)
		}
		phones[c.ID] = phone
	}
	var gone, later contactJSON
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "erased.before@example.org"}, &gone)
	p.do("POST", "/api/v1/contacts", map[string]any{"email": "erased.during@example.org"}, &later)
	if st := p.do("DELETE", "/api/v1/contacts/"+gone.ID, nil, nil); st != 204 {
		t.Fatalf("erase before the rotation: %d", st)
	}
	code, ledgerBefore, stderr := runCLI(t, "ledger", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("ledger export: %d %s", code, stderr)
	}
	sqlite := testdb.DatabaseURL(t, dir) == ""
	var backupFile, verifyKey, dataID, keysID string
	if sqlite {
		var dataTo, keysTo string
		dataID, dataTo = ageIdentity(t, "data-identity.txt")
		keysID, keysTo = ageIdentity(t, "keys-identity.txt")
		backupFile = filepath.Join(t.TempDir(), "before.backup")
		verifyKey = runBackup(t, "--data", dir, "--recipient", dataTo, "--with-keys", "--keys-recipient", keysTo, backupFile).VerifyKey
	}
	emails := listEmails(t, p)
	delete(emails, later.ID)
	load := startRotLoad(p, emails)

	stderrBuf := &syncBuffer{}
	var stdout strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(t.Context(), cli.Env{Args: withStore(t, []string{"keys", "rotate", "--bidx", "--data", dir, "--batch", "10"}, nil),
			Stdout: &stdout, Stderr: stderrBuf, Getenv: getenv})
	}()
	for !strings.Contains(stderrBuf.String(), "is primary") {
		select {
		case code := <-done:
			t.Fatalf("keys rotate --bidx ended (exit %d) before the key was primary:\n%s", code, stderrBuf.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Under the new primary: an erasure and a withdrawal.
	if st := p.do("DELETE", "/api/v1/contacts/"+later.ID, nil, nil); st != 204 {
		t.Errorf("erase during the rotation: %d", st)
	}
	withdrawn := ""
	for id := range emails {
		withdrawn = id
		break
	}
	if st := p.do("POST", "/api/v1/contacts/"+withdrawn+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentWithdrawn", "method": "web-form"}, nil); st != 201 {
		t.Errorf("withdraw during the rotation: %d", st)
	}
	code = <-done
	emails, bad, calls := load.end()
	p.stop()
	if code != 0 {
		t.Fatalf("keys rotate --bidx: exit %d\n%s", code, stderrBuf.String())
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d calls during the rotation failed, first: %q", len(bad), calls, bad)
	}
	var sum keys.BidxSummary
	if err := json.Unmarshal([]byte(stdout.String()), &sum); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	after := bidxInfo(t, dir)
	old, _ := after.Key(before.Primary)
	if len(after.Keys) != 2 || after.Primary != sum.Added || sum.Added == before.Primary || old.Status != "enabled" {
		t.Errorf("bidx keyset after: %v (summary %+v); want the new key %d primary and the old %d enabled beside it", after, sum, sum.Added, before.Primary)
	}
	if !slices.Equal(sum.Kept, []uint32{before.Primary}) || sum.Read < 150 || sum.Reindexed < 150 || sum.Lost != 0 {
		t.Errorf("summary %+v; want key %d kept, every contact read, at least the 150 imported re-indexed, none lost", sum, before.Primary)
	}
	for _, step := range []string{"added", "is primary", "re-indexed under key", "not deleted"} {
		if !strings.Contains(stderrBuf.String(), step) {
			t.Errorf("the progress does not say %q:\n%s", step, stderrBuf.String())
		}
	}
	checkAfterRotation(t, dir, p.token, emails, nil)

	q := startProgram(t, dir)
	q.token = p.token
	for id, phone := range phones {
		var found listJSON
		if st := q.do("GET", "/api/v1/contacts?phone="+url.QueryEscape(phone), nil, &found); st != 200 || len(found.Items) != 1 || found.Items[0].ID != id {
			t.Errorf("lookup of contact %s by its phone after the rotation: %d, %+v", id, st, found.Items)
		}
	}
	for _, addr := range []string{"erased.before@example.org", "erased.during@example.org"} {
		if _, reason := q.gate(map[string]string{"email": addr}, "newsletter"); reason != "suppressed" {
			t.Errorf("gate for %s, erased, after the rotation: %s; want suppressed", addr, reason)
		}
	}
	if st := q.do("POST", "/api/v1/contacts", map[string]any{"email": "erased.before@example.org"}, nil); st != 409 {
		t.Errorf("create the address erased before the rotation: %d; want 409 (erased)", st)
	}
	var back contactJSON
	if st := q.do("POST", "/api/v1/contacts?recreate_erased=true", map[string]any{"email": "erased.before@example.org"}, &back); st != 201 {
		t.Fatalf("create it again on the person's request: %d", st)
	}
	if _, reason := q.gate(map[string]string{"contact_id": back.ID}, "newsletter"); reason != "suppressed" {
		t.Errorf("gate for the contact created again: %s; want suppressed (the entry made under the old key is its)", reason)
	}
	q.stop()

	if code, out, stderr := runCLI(t, "ledger", "replay", "--data", dir, writeFile(t, "ledger-before.jsonl", ledgerBefore)); code != 0 {
		t.Errorf("replay of a ledger exported before the rotation: exit %d %s %s", code, out, stderr)
	}
	if sqlite {
		env := map[string]string{"TILLIT_ROOT_KEY_FILE": filepath.Join(dir, "root.key")}
		restored := filepath.Join(t.TempDir(), "restored")
		if code, _, stderr := runCLIEnv(t, env, "restore", "--data", restored, "--identity", dataID, "--identity", keysID, "--verify-key", verifyKey, backupFile); code != 0 {
			t.Errorf("restore of a backup made before the rotation: exit %d %s", code, stderr)
		}
		if code, out, stderr := runBackupAfter(t, dir); code != 0 || !strings.Contains(out, verifyKey) {
			t.Errorf("a backup after the rotation: exit %d, %s %s; want it signed with the key recorded before (%s)", code, out, stderr, verifyKey)
		}
	}
	if code, out, stderr := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
		t.Errorf("audit verify at the end: exit %d\n%s%s", code, out, stderr)
	}
}

// runBackupAfter takes one more backup of dir and returns its exit code and output.
func runBackupAfter(t *testing.T, dir string) (int, string, string) {
	t.Helper()
	_, to := ageIdentity(t, "after-identity.txt")
	return runCLI(t, "backup", "--data", dir, "--recipient", to, filepath.Join(t.TempDir(), "after.backup"))
}

// TestRotateBidxKilledResumes kills tillit keys rotate --bidx (SIGKILL, a child process) in the
// middle of the re-index, beside a running server, and runs it again: it continues after the
// contacts done (re-indexing only the rest), keeps the same new key primary, and every contact
// is found by its address.
func TestRotateBidxKilledResumes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 600)
	old := bidxInfo(t, dir).Primary
	p := startProgram(t, dir)
	emails := listEmails(t, p)

	killChildAt(t, withStore(t, []string{"keys", "rotate", "--bidx", "--data", dir, "--batch", "5"}, nil), "contacts read (", "keys rotate (mid-re-index)")
	mid := bidxInfo(t, dir)
	if len(mid.Keys) != 2 || mid.Primary == old {
		t.Fatalf("bidx keyset after the kill: %v; want the new key primary beside the old one", mid)
	}
	// The server finds every contact meanwhile, part of them re-indexed.
	for id, addr := range emails {
		var found listJSON
		if st := p.do("GET", "/api/v1/contacts?email="+url.QueryEscape(addr), nil, &found); st != 200 || len(found.Items) != 1 || found.Items[0].ID != id {
			t.Fatalf("lookup of %s after the kill: %d, %+v", id, st, found.Items)
		}
	}

	code, out, errOut := runCLI(t, "keys", "rotate", "--bidx", "--data", dir, "--batch", "5")
	p.stop()
	if code != 0 {
		t.Fatalf("the second run: exit %d\n%s", code, errOut)
	}
	var sum keys.BidxSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Added != mid.Primary || !slices.Equal(sum.Kept, []uint32{old}) || sum.Reindexed == 0 || sum.Read >= 600 || !strings.Contains(errOut, "resuming the re-index") {
		t.Errorf("second run %+v\n%s\nwant key %d kept primary, part of the 600 contacts re-indexed (the rest were by the killed run)", sum, errOut, mid.Primary)
	}
	if after := bidxInfo(t, dir); len(after.Keys) != 2 || after.Primary != mid.Primary {
		t.Errorf("bidx keyset after: %v; want %d primary beside %d", after, mid.Primary, old)
	}
	checkAfterRotation(t, dir, p.token, emails, nil)
}
