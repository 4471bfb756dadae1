package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// tokenMarker is the name of a token: kept as it is in the data file's pages, so a plain file
// holds it as bytes.
const tokenMarker = "plainmarker-token-name"

// oldInstallation makes dir an installation from before disk encryption, with data: a root key
// and keysets without the disk keyset (as that tillit wrote them), plain SQLite files with a
// contact imported and a token named tokenMarker.
func oldInstallation(t *testing.T, dir string) {
	t.Helper()
	kcfg := keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true}
	kr, _, err := keys.Open(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	// The files as that tillit made them: plain (no disk keys given).
	db, err := store.Open(t.Context(), store.Config{URL: "sqlite:" + dir, AnchorMAC: kr.AnchorMAC})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var kf map[string]json.RawMessage
	if err := json.Unmarshal(readAll(t, kcfg.KeysetFile), &kf); err != nil {
		t.Fatal(err)
	}
	var sets map[string]json.RawMessage
	json.Unmarshal(kf["keysets"], &sets)
	delete(sets, "disk")
	kf["keysets"], _ = json.Marshal(sets)
	b, _ := json.Marshal(kf)
	if err := os.WriteFile(kcfg.KeysetFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	importCLI(t, dir, nil, writeFile(t, "old.csv", "Email Address,First Name,OPTIN_TIME\nold.timer@example.org,Olga,2024-01-02 03:04:05\n"))
	if code, _, errs := runCLI(t, "token", "create", "--role", "admin", "--name", tokenMarker, "--data", dir); code != 0 {
		t.Fatalf("token create: %d %s", code, errs)
	}
	checkFiles(t, dir, false)
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFiles checks that both SQLite files in dir are plain (the SQLite header and the marker as
// bytes) or, with encrypted, hold neither as bytes while under the directory's disk keys they
// hold both.
func checkFiles(t *testing.T, dir string, encrypted bool) {
	t.Helper()
	var dataPlain []byte
	for _, name := range []string{"tillit.db", "keys.db"} {
		b := readAll(t, filepath.Join(dir, name))
		header := bytes.HasPrefix(b, []byte("SQLite format 3\x00"))
		pt, decrypted := testdb.Decrypted(t, dir, b)
		switch {
		case !encrypted && (!header || decrypted):
			t.Errorf("%s: not a plain SQLite file", name)
		case encrypted && (header || bytes.Contains(b, []byte(tokenMarker))):
			t.Errorf("%s: holds the SQLite header or the marker as bytes", name)
		case encrypted && (!decrypted || !bytes.HasPrefix(pt, []byte("SQLite format 3\x00"))):
			t.Errorf("%s: does not decrypt under the directory's disk keys", name)
		}
		if name == "tillit.db" {
			dataPlain = pt
		}
	}
	if !bytes.Contains(dataPlain, []byte(tokenMarker)) {
		t.Errorf("the data file's pages do not hold the token's name: the check saw no content")
	}
}

// TestEncryptDiskAndRotate: an installation from before disk encryption serves with a warning;
// tillit keys encrypt-disk refuses while it serves, then copies both files under the disk key it
// adds to keysets.json (progress on stderr) and the store serves on, without the warning; run
// again it does nothing. tillit keys rotate --disk refuses while the store serves, then copies
// the files under a new key and drops the old one: the files open only under the new key.
func TestEncryptDiskAndRotate(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: PostgreSQL's are the server's")
	dir := t.TempDir()
	oldInstallation(t, dir)

	c := startChild(t, dir, "")
	if !strings.Contains(c.stderr.String(), "the SQLite files are not encrypted") {
		t.Errorf("serve on plain files did not warn:\n%s", c.stderr.String())
	}
	if code, _, errs := runCLI(t, "keys", "encrypt-disk", "--data", dir); code != 1 || !strings.Contains(errs, "in use by another process") {
		t.Errorf("encrypt-disk beside a running server: exit %d, %q; want 1 and in use", code, errs)
	}
	c.stop()
	checkFiles(t, dir, false)

	code, out, errs := runCLI(t, "keys", "encrypt-disk", "--data", dir)
	if code != 0 {
		t.Fatalf("encrypt-disk: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"tillit.db: ", "keys.db: ", "pages (100%)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("encrypt-disk's progress %q lacks %q", errs, want)
		}
	}
	checkFiles(t, dir, true)
	first := testdb.DiskKeys(t, dir)
	if len(first) != 1 {
		t.Fatalf("%d disk keys after encrypt-disk; want 1", len(first))
	}
	if code, out, _ := runCLI(t, "keys", "encrypt-disk", "--data", dir); code != 0 || !strings.Contains(out, "encrypted already") {
		t.Errorf("encrypt-disk again: exit %d, %q; want 0, encrypted already", code, out)
	}

	c = startChild(t, dir, "")
	if strings.Contains(c.stderr.String(), "not encrypted") {
		t.Errorf("serve on encrypted files warned:\n%s", c.stderr.String())
	}
	admin := adminToken(t, dir)
	if n := c.lookup(t, admin, "old.timer@example.org"); n != 1 {
		t.Errorf("the imported contact after encrypt-disk: %d found; want 1", n)
	}
	c.checkWhole(t, admin)
	if code, _, errs := runCLI(t, "keys", "rotate", "--disk", "--data", dir); code != 1 || !strings.Contains(errs, "in use by another process") {
		t.Errorf("rotate beside a running server: exit %d, %q; want 1 and in use", code, errs)
	}
	c.stop()
	if code, _, errs := runCLI(t, "keys", "rotate", "--data", dir); code != 2 {
		t.Errorf("rotate without --disk: exit %d %q; want a usage error", code, errs)
	}

	if code, out, errs := runCLI(t, "keys", "rotate", "--disk", "--data", dir); code != 0 {
		t.Fatalf("rotate --disk: exit %d\n%s%s", code, out, errs)
	}
	second := testdb.DiskKeys(t, dir)
	if len(second) != 1 || bytes.Equal(second[0], first[0]) {
		t.Fatalf("disk keys after the rotation: %d, the old one kept: %v; want only a new one", len(second), len(second) > 0 && bytes.Equal(second[0], first[0]))
	}
	checkFiles(t, dir, true) // under the new key: the only one the keysets hold
	c = startChild(t, dir, "")
	if n := c.lookup(t, admin, "old.timer@example.org"); n != 1 {
		t.Errorf("the imported contact after the rotation: %d found; want 1", n)
	}
	c.checkWhole(t, admin)
	c.stop()
	readFacts(t, dir).check(t)
}

// adminToken makes an admin token with tillit token create.
func adminToken(t *testing.T, dir string) string {
	t.Helper()
	code, out, errs := runCLI(t, "token", "create", "--role", "admin", "--name", "test admin", "--data", dir)
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errs)
	}
	return strings.TrimSpace(out)
}

// TestCrashInEncryptDisk kills tillit keys encrypt-disk (in its own process, through the
// killing VFS under the encryption) while it writes the copy of the data file, of the key
// store, and once both copies are complete but not swapped in. Each time the store left is the
// plain one, whole, with its data; the copies are gone once any command has opened it; and
// encrypt-disk run again converts it. (A kill between the two renames that swap the copies in
// is no VFS operation: TestSettleAfterAnInterruptedSwap in internal/store/sqlite builds that
// state.)
func TestCrashInEncryptDisk(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: it kills tillit while it copies them (killvfs)")
	base := t.TempDir()
	oldInstallation(t, base)
	for _, plan := range []string{"tillit.db.new,write,1", "tillit.db.new,write,3", "keys.db.new,write,1", "keys.db.new,sync,1"} {
		t.Run(strings.ReplaceAll(plan, ",", "-"), func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, base, dir)
			args, _ := json.Marshal([]string{"keys", "encrypt-disk", "--data", dir})
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "TILLIT_CHILD_ARGS="+string(args), "TILLIT_CHILD_KILL="+plan+",", "TILLIT_SQLITE_VFS=kill")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			_ = cmd.Run()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("encrypt-disk was not killed at %s: %v\n%s", plan, cmd.ProcessState, stderr.String())
			}
			if code, out, errs := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
				t.Errorf("tillit audit verify after the kill: exit %d\n%s%s", code, out, errs)
			}
			for _, leftover := range []string{"tillit.db.new", "keys.db.new"} {
				if _, err := os.Stat(filepath.Join(dir, leftover)); err == nil {
					t.Errorf("%s is still there after the store was opened", leftover)
				}
			}
			checkFiles(t, dir, false)
			c := startChild(t, dir, "")
			admin := adminToken(t, dir)
			if n := c.lookup(t, admin, "old.timer@example.org"); n != 1 {
				t.Errorf("the imported contact after the kill: %d found; want 1", n)
			}
			c.checkWhole(t, admin)
			c.stop()
			if code, out, errs := runCLI(t, "keys", "encrypt-disk", "--data", dir); code != 0 {
				t.Fatalf("encrypt-disk after the kill: exit %d\n%s%s", code, out, errs)
			}
			checkFiles(t, dir, true)
			readFacts(t, dir).check(t)
		})
	}
}

// TestDiskCommandsRefuseAServerStore: the keys commands on the SQLite files refuse a store that
// is a database server's, before reaching it, and say what to do instead; without a subcommand
// they are a usage error.
func TestDiskCommandsRefuseAServerStore(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"keys", "encrypt-disk"}, {"keys", "rotate", "--disk"}} {
		code, _, errs := runCLI(t, append(args, "--data", dir, "--database-url", "postgres://tillit@127.0.0.1:1/none?schema=s")...)
		if code != 1 || !strings.Contains(errs, "encrypt the server's volume") {
			t.Errorf("%v on PostgreSQL: exit %d, %q; want 1, encrypt the server's volume", args, code, errs)
		}
	}
	if code, _, _ := runCLI(t, "keys"); code != 2 {
		t.Errorf("tillit keys: exit %d; want 2", code)
	}
}
