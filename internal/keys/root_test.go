package keys_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

// tokenRoot is a stand-in for a root key of another kind (a PKCS#11 token): AES-256-GCM under a
// random key, with the kind it is told.
type tokenRoot struct {
	gcm  cipher.AEAD
	kind string
}

func newTokenRoot(t *testing.T, kind string) tokenRoot {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		t.Fatal(err)
	}
	return tokenRoot{gcm: gcm, kind: kind}
}

func (r tokenRoot) Encrypt(pt, ad []byte) ([]byte, error) { return r.gcm.Seal(nil, nil, pt, ad), nil }
func (r tokenRoot) Decrypt(ct, ad []byte) ([]byte, error) { return r.gcm.Open(nil, nil, ct, ad) }
func (r tokenRoot) Kind() string                          { return r.kind }

// TestOpenWithRootRecordsItsKind: a keyring made with a root of another kind opens again with
// it, records the kind in the keyset file, and refuses the file key, naming TILLIT_ROOT_KEY.
func TestOpenWithRootRecordsItsKind(t *testing.T) {
	dir := t.TempDir()
	ks := filepath.Join(dir, "keysets.json")
	root := newTokenRoot(t, keys.RootPKCS11)
	kr, created, err := keys.Open(keys.Config{Root: root, RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: ks, Create: true})
	if err != nil || !created {
		t.Fatalf("Open = %v, created %v; want a new keyring", err, created)
	}
	if _, err := os.Stat(filepath.Join(dir, "root.key")); !os.IsNotExist(err) {
		t.Errorf("a root key file was made beside a given root (stat: %v)", err)
	}
	if kind, err := keys.WrappedBy(ks); err != nil || kind != keys.RootPKCS11 {
		t.Errorf("WrappedBy = %q, %v; want %q", kind, err, keys.RootPKCS11)
	}
	_, wrapped, err := kr.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	kr2, created, err := keys.Open(keys.Config{Root: root, KeysetFile: ks})
	if err != nil || created {
		t.Fatalf("second Open = %v, created %v; want the same keyring", err, created)
	}
	if _, err := kr2.OpenDataKey("c1", 1, wrapped); err != nil {
		t.Fatalf("the reopened keyring does not open a data key: %v", err)
	}
	_, _, err = keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: ks, Create: true})
	if err == nil || !strings.Contains(err.Error(), "TILLIT_ROOT_KEY") {
		t.Errorf("Open with a file key of keysets wrapped in a token = %v; want an error naming TILLIT_ROOT_KEY", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "root.key")); !os.IsNotExist(err) {
		t.Errorf("a refused Open left a root key file (stat: %v)", err)
	}
}

// TestOpenReadsKeysetFileWithoutRootKind: a keyset file written before the kind was recorded is
// wrapped by a file key.
func TestOpenReadsKeysetFileWithoutRootKind(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, true)
	ks := filepath.Join(dir, "keysets.json")
	data, err := os.ReadFile(ks)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m["root"] != keys.RootFile {
		t.Errorf("keysets.json root = %v; want %q", m["root"], keys.RootFile)
	}
	delete(m, "root")
	data, _ = json.Marshal(m)
	if err := os.WriteFile(ks, data, 0o600); err != nil {
		t.Fatal(err)
	}
	openTest(t, dir, false)
	if kind, err := keys.WrappedBy(ks); err != nil || kind != keys.RootFile {
		t.Errorf("WrappedBy = %q, %v; want %q", kind, err, keys.RootFile)
	}
}

// TestRewrapMovesKeysetsToAnotherRoot: after Rewrap the keysets open with the new root only, and
// hold the same keys (a data key wrapped before opens, the blind index is the same).
func TestRewrapMovesKeysetsToAnotherRoot(t *testing.T) {
	dir := t.TempDir()
	kr := openTest(t, dir, true)
	ks := filepath.Join(dir, "keysets.json")
	_, wrapped, err := kr.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com")
	from, _, err := keys.OpenRootFile(filepath.Join(dir, "root.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	to := newTokenRoot(t, keys.RootPKCS11)
	if err := keys.Rewrap(ks, to, from); err == nil {
		t.Error("Rewrap from a root of the wrong kind succeeded")
	}
	if err := keys.Rewrap(ks, from, to); err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if _, err := os.Stat(ks + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("Rewrap left %s.tmp (stat: %v)", ks, err)
	}
	kr2, _, err := keys.Open(keys.Config{Root: to, KeysetFile: ks})
	if err != nil {
		t.Fatalf("Open with the new root: %v", err)
	}
	if _, err := kr2.OpenDataKey("c1", 1, wrapped); err != nil {
		t.Errorf("a data key wrapped before the move does not open: %v", err)
	}
	if idx2, _ := kr2.BlindIndex(keys.IndexEmail, 1, "a@example.com"); !bytes.Equal(idx, idx2) {
		t.Error("the blind index changed with the move")
	}
	if _, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: ks}); err == nil {
		t.Error("the old root key still opens the moved keysets")
	}
	// A root of the right kind that is not the one: nothing opens, the file stays as it was.
	before, _ := os.ReadFile(ks)
	if err := keys.Rewrap(ks, newTokenRoot(t, keys.RootPKCS11), from); err == nil {
		t.Error("Rewrap with the wrong root succeeded")
	}
	if after, _ := os.ReadFile(ks); !bytes.Equal(before, after) {
		t.Error("a failed Rewrap changed the keyset file")
	}
}
