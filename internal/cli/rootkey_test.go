package cli_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/cli"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/keys/pkcs11/softhsmtest"
)

// TestServeWarnsOfRootKeyInDataDirectory: found by a reliability trial (D14). The default root
// key sits in the data directory, so a copy of the directory decrypts on its own, while the
// README says to keep it apart. serve now says so at every start, on one line of stderr naming
// the file (never its content); a key kept elsewhere (TILLIT_ROOT_KEY_FILE) gets no warning.
func TestServeWarnsOfRootKeyInDataDirectory(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	p.stop()
	var warnings []string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "root key") && strings.Contains(line, "inside the data directory") {
			warnings = append(warnings, line)
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], filepath.Join(dir, "root.key")) || !strings.Contains(warnings[0], "TILLIT_ROOT_KEY_FILE") ||
		strings.Contains(warnings[0], strings.TrimSpace(string(key))) {
		t.Errorf("warnings %q; want one line naming %s and TILLIT_ROOT_KEY_FILE", warnings, filepath.Join(dir, "root.key"))
	}

	apart := filepath.Join(t.TempDir(), "root.key")
	q := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_ROOT_KEY_FILE": apart})
	q.stop()
	if strings.Contains(q.stderr.String(), "inside the data directory") {
		t.Errorf("a root key kept apart was warned about:\n%s", q.stderr.String())
	}
	if _, err := os.Stat(apart); err != nil {
		t.Errorf("the root key was not created at TILLIT_ROOT_KEY_FILE: %v", err)
	}
}

// TestRootKeyWarningSeesThroughLinks: found by a trial. A data directory that is a symbolic link
// to the folder holding the key got no warning.
func TestRootKeyWarningSeesThroughLinks(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	p := startProgramEnv(t, link, map[string]string{"TILLIT_ROOT_KEY_FILE": filepath.Join(real, "root.key")})
	p.stop()
	if !strings.Contains(p.stderr.String(), "inside the data directory") {
		t.Errorf("no warning for a key inside the linked data directory:\n%s", p.stderr.String())
	}
}

// TestServeWithRootKeyInToken: with TILLIT_ROOT_KEY naming a key in a PKCS#11 token (SoftHSM2),
// tillit serve makes the key in the token and no root.key file, serves, and a restart opens the
// same data. The PIN is never printed. Without TILLIT_ROOT_KEY, the directory is refused with a
// message that names it, and nothing is written.
func TestServeWithRootKeyInToken(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	dir := t.TempDir()
	env := map[string]string{"TILLIT_ROOT_KEY": tok.URI("tillit-root")}
	p := startProgramEnv(t, dir, env)
	var c struct {
		ID string `json:"id"`
	}
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "token.kept@example.org", "first_name": "Tove"}, &c); st != 201 {
		t.Fatalf("create a contact: %d", st)
	}
	admin := p.token
	p.stop()
	if _, err := os.Stat(filepath.Join(dir, "root.key")); !os.IsNotExist(err) {
		t.Errorf("a root.key was written to the data directory (stat: %v)", err)
	}
	if kind, err := keys.WrappedBy(filepath.Join(dir, "keysets.json")); err != nil || kind != keys.RootPKCS11 {
		t.Errorf("keysets.json is wrapped by %q (%v); want %q", kind, err, keys.RootPKCS11)
	}
	if !strings.Contains(p.stderr.String(), "wrapped by the root key in the PKCS#11 token (pkcs11:token=tillit;object=tillit-root)") {
		t.Errorf("the first start did not say where the root key is:\n%s", p.stderr.String())
	}

	q := startProgramEnv(t, dir, env)
	var got map[string]any
	if st := q.doAs(admin, "GET", "/api/v1/contacts/"+c.ID, nil, &got); st != 200 || got["email"] != "token.kept@example.org" {
		t.Errorf("after a restart: %d %v; want the contact with its address", st, got)
	}
	q.stop()
	for _, out := range []string{p.stderr.String(), q.stderr.String()} {
		if strings.Contains(out, tok.PIN) {
			t.Errorf("the PIN was printed:\n%s", out)
		}
	}

	before, _ := os.ReadDir(dir)
	var stderr bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{
		Args:   withStore(t, []string{"serve", "--data", dir, "--listen", "127.0.0.1:0"}, nil),
		Stdout: io.Discard, Stderr: &stderr, Getenv: getenv,
	})
	if code != 1 || !strings.Contains(stderr.String(), "set TILLIT_ROOT_KEY to the pkcs11: URI") {
		t.Errorf("serve without TILLIT_ROOT_KEY: exit %d, stderr %q; want exit 1 naming TILLIT_ROOT_KEY", code, stderr.String())
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Errorf("the refused start wrote into the data directory: %d files before, %d after", len(before), len(after))
	}

	// A wrong PIN is refused naming the token, and neither PIN is printed.
	stderr.Reset()
	wrong := map[string]string{"TILLIT_ROOT_KEY": strings.Replace(tok.URI("tillit-root"), tok.PIN, "wrong-pin-1907", 1)}
	code = cli.Main(context.Background(), cli.Env{
		Args:   withStore(t, []string{"serve", "--data", dir, "--listen", "127.0.0.1:0"}, wrong),
		Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return wrong[k] },
	})
	if code != 1 || !strings.Contains(stderr.String(), `the user PIN of token "tillit" is wrong`) ||
		strings.Contains(stderr.String(), "wrong-pin-1907") || strings.Contains(stderr.String(), tok.PIN) {
		t.Errorf("serve with a wrong PIN: exit %d, stderr %q; want exit 1 saying the PIN is wrong, without it", code, stderr.String())
	}
}

// TestMoveRootKeyIntoToken: an installation with a root key file moves its keysets into a
// PKCS#11 token with tillit keys move-root, and serves the same people with TILLIT_ROOT_KEY; the
// file key no longer opens them, and a PIN on the command line is refused. Moving back to a new
// file works too.
func TestMoveRootKeyIntoToken(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	dir := t.TempDir()
	p := startProgram(t, dir)
	var c struct {
		ID string `json:"id"`
	}
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "moved.along@example.org"}, &c); st != 201 {
		t.Fatalf("create a contact: %d", st)
	}
	admin := p.token
	p.stop()
	keysets, _ := os.ReadFile(filepath.Join(dir, "keysets.json"))

	run := func(env map[string]string, args ...string) (int, string) {
		var stderr bytes.Buffer
		code := cli.Main(context.Background(), cli.Env{
			Args: withStore(t, args, env), Stdout: io.Discard, Stderr: &stderr,
			Getenv: func(k string) string { return env[k] },
		})
		return code, stderr.String()
	}
	if code, out := run(nil, "keys", "move-root", "--data", dir, "--to", tok.URI("tillit-root")); code != 2 || !strings.Contains(out, "pin-source") || strings.Contains(out, tok.PIN) {
		t.Errorf("move-root with the PIN on the command line: exit %d, %q; want 2 asking for pin-source, without the PIN", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "keysets.json")); !bytes.Equal(got, keysets) {
		t.Error("a refused move-root changed keysets.json")
	}

	pin := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pin, []byte(tok.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := strings.Replace(tok.URI("tillit-root"), "pin-value="+tok.PIN, "pin-source=file:"+pin, 1)
	code, out := run(nil, "keys", "move-root", "--data", dir, "--to", uri)
	if code != 0 || !strings.Contains(out, "TILLIT_ROOT_KEY='"+uri+"'") || !strings.Contains(out, "Keep the old root key file "+filepath.Join(dir, "root.key")) {
		t.Fatalf("move-root: exit %d\n%s", code, out)
	}
	if kind, err := keys.WrappedBy(filepath.Join(dir, "keysets.json")); err != nil || kind != keys.RootPKCS11 {
		t.Errorf("keysets.json is wrapped by %q (%v); want %q", kind, err, keys.RootPKCS11)
	}
	if code, out := run(nil, "serve", "--data", dir, "--listen", "127.0.0.1:0"); code != 1 || !strings.Contains(out, "TILLIT_ROOT_KEY") {
		t.Errorf("serve with the old file key after the move: exit %d, %q; want 1 naming TILLIT_ROOT_KEY", code, out)
	}
	env := map[string]string{"TILLIT_ROOT_KEY": uri}
	q := startProgramEnv(t, dir, env)
	var got map[string]any
	if st := q.doAs(admin, "GET", "/api/v1/contacts/"+c.ID, nil, &got); st != 200 || got["email"] != "moved.along@example.org" {
		t.Errorf("after the move: %d %v; want the contact with its address", st, got)
	}
	q.stop()

	back := filepath.Join(t.TempDir(), "root.key")
	if code, out := run(env, "keys", "move-root", "--data", dir, "--to", back); code != 0 || !strings.Contains(out, "TILLIT_ROOT_KEY_FILE="+back) {
		t.Fatalf("move-root back to a file: exit %d\n%s", code, out)
	}
	r := startProgramEnv(t, dir, map[string]string{"TILLIT_ROOT_KEY_FILE": back})
	if st := r.doAs(admin, "GET", "/api/v1/contacts/"+c.ID, nil, &got); st != 200 || got["email"] != "moved.along@example.org" {
		t.Errorf("after moving back: %d %v; want the contact with its address", st, got)
	}
	r.stop()
}
