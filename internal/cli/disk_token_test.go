package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/keys/pkcs11"
	"github.com/tillit/tillit/internal/keys/pkcs11/softhsmtest"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// TestRotateDiskWithRootKeyInToken: an installation whose root key lives in a PKCS#11 token
// (SoftHSM2) rotates its disk key with tillit keys rotate --disk: keysets.json is written again
// under the token's key (still wrapped by it, with one disk key, a new one), the files are under
// the new key, and the server serves the same person afterwards. The PIN is never printed.
func TestRotateDiskWithRootKeyInToken(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: PostgreSQL's are the server's")
	tok := softhsmtest.New(t, "tillit")
	dir := t.TempDir()
	env := map[string]string{"TILLIT_ROOT_KEY": tok.URI("tillit-root")}
	p := startProgramEnv(t, dir, env)
	var c struct {
		ID string `json:"id"`
	}
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "disk.token@example.org", "first_name": "Dagny"}, &c); st != 201 {
		t.Fatalf("create a contact: %d", st)
	}
	admin := p.token
	p.stop()
	before := diskKeysInToken(t, dir, env)
	if len(before) != 1 {
		t.Fatalf("%d disk keys before the rotation; want 1", len(before))
	}

	code, out, errs := runCLIEnv(t, env, "keys", "rotate", "--disk", "--data", dir)
	if code != 0 {
		t.Fatalf("rotate --disk with the root key in a token: exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, tok.PIN) {
		t.Errorf("the PIN was printed:\n%s%s", out, errs)
	}
	if kind, err := keys.WrappedBy(filepath.Join(dir, "keysets.json")); err != nil || kind != keys.RootPKCS11 {
		t.Errorf("keysets.json is wrapped by %q (%v) after the rotation; want %q", kind, err, keys.RootPKCS11)
	}
	after := diskKeysInToken(t, dir, env)
	if len(after) != 1 || bytes.Equal(after[0], before[0]) {
		t.Fatalf("disk keys after the rotation: %d, the old one kept: %v; want only a new one", len(after), len(after) > 0 && bytes.Equal(after[0], before[0]))
	}
	head, err := os.ReadFile(filepath.Join(dir, "tillit.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(head, []byte("SQLite format 3\x00")) {
		t.Error("tillit.db starts with SQLite's plain header after the rotation")
	}

	q := startProgramEnv(t, dir, env)
	var got map[string]any
	if st := q.doAs(admin, "GET", "/api/v1/contacts/"+c.ID, nil, &got); st != 200 || got["email"] != "disk.token@example.org" {
		t.Errorf("after the rotation: %d %v; want the contact with its address", st, got)
	}
	q.stop()
}

// diskKeysInToken returns the disk keys of dir's keysets.json, opened under the token's root key.
func diskKeysInToken(t *testing.T, dir string, env map[string]string) [][]byte {
	t.Helper()
	u, err := pkcs11.ParseURI(env["TILLIT_ROOT_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	root, _, err := pkcs11.Open(u, false)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	kr, _, err := keys.Open(keys.Config{Root: root, KeysetFile: filepath.Join(dir, "keysets.json")})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, k := range kr.DiskKeys() {
		out = append(out, k.Key)
	}
	return out
}
