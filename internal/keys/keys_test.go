package keys_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

func openTest(t testing.TB, dir string, create bool) *keys.Keyring {
	t.Helper()
	kr, _, err := keys.Open(keys.Config{
		RootKeyFile: filepath.Join(dir, "root.key"),
		KeysetFile:  filepath.Join(dir, "keysets.json"),
		Create:      create,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return kr
}

func TestOpenCreatesRootKey0600AndReopens(t *testing.T) {
	dir := t.TempDir()
	kr := openTest(t, dir, true)
	st, err := os.Stat(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != keys.RootKeySize {
		t.Fatalf("root key mode %v size %d; want 0600 and %d", st.Mode().Perm(), st.Size(), keys.RootKeySize)
	}
	a, err := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, wrapped, err := kr.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := kr.OpenDataKey("c1", 1, wrapped)
	ct, err := dk.Seal("contacts", "email", "c1", []byte("a@example.com"))
	if err != nil {
		t.Fatal(err)
	}

	kr2 := openTest(t, dir, false)
	b, _ := kr2.BlindIndex(keys.IndexEmail, 1, "a@example.com")
	if !bytes.Equal(a, b) {
		t.Fatal("blind index differs after reopening the key ring")
	}
	dk2, err := kr2.OpenDataKey("c1", 1, wrapped)
	if err != nil {
		t.Fatalf("OpenDataKey after reopen: %v", err)
	}
	pt, err := dk2.Open("contacts", "email", "c1", ct)
	if err != nil || string(pt) != "a@example.com" {
		t.Fatalf("Open = %q, %v; want the address", pt, err)
	}
}

func TestOpenRefusesMissingKeysWithoutCreate(t *testing.T) {
	_, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(t.TempDir(), "root.key"), KeysetFile: filepath.Join(t.TempDir(), "k.json")})
	if err == nil {
		t.Fatal("Open without Create on an empty directory succeeded; want an error")
	}
}

func TestOpenRefusesWrongRootKey(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, true)
	if err := os.WriteFile(filepath.Join(dir, "root.key"), bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json")}); err == nil {
		t.Fatal("a wrong root key opened the keysets")
	}
}

func TestOpenRefusesWorldReadableRootKey(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, true)
	if err := os.Chmod(filepath.Join(dir, "root.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json")}); err == nil {
		t.Fatal("a root key with mode 0644 was accepted")
	}
}

func TestFieldBindsTableColumnRowAndVersion(t *testing.T) {
	kr := openTest(t, t.TempDir(), true)
	dk, wrapped, err := kr.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := dk.Seal("contacts", "first_name", "c1", []byte("Dolor"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("Dolor")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	for _, tc := range []struct{ table, column, row string }{
		{"consent_events", "first_name", "c1"},
		{"contacts", "last_name", "c1"},
		{"contacts", "first_name", "c2"},
	} {
		if _, err := dk.Open(tc.table, tc.column, tc.row, ct); !errors.Is(err, keys.ErrDecrypt) {
			t.Errorf("Open(%s,%s,%s) err = %v; want ErrDecrypt", tc.table, tc.column, tc.row, err)
		}
	}
	kr.Forget("c1")
	if _, err := kr.OpenDataKey("c1", 2, wrapped); err == nil {
		t.Error("a wrapped key opened under another key version")
	}
	if _, err := kr.OpenDataKey("c2", 1, wrapped); err == nil {
		t.Error("a wrapped key opened for another contact")
	}
	other, _, _ := kr.NewDataKey("c3", 1)
	if _, err := other.Open("contacts", "first_name", "c1", ct); !errors.Is(err, keys.ErrDecrypt) {
		t.Errorf("another contact's key opened the field: %v", err)
	}
	if got, err := dk.Seal("contacts", "notes", "c1", nil); got != nil || err != nil {
		t.Errorf("Seal(empty) = %v, %v; want nil, nil", got, err)
	}
}

func TestBlindIndexSeparatesKinds(t *testing.T) {
	kr := openTest(t, t.TempDir(), true)
	a, _ := kr.BlindIndex(keys.IndexEmail, 1, "x@example.com")
	b, _ := kr.BlindIndex(keys.IndexSuppression, 1, "x@example.com")
	c, _ := kr.BlindIndex(keys.IndexEmail, 2, "x@example.com")
	d, _ := kr.BlindIndex(keys.IndexEmail, 1, "x@example.com")
	if len(a) != keys.IndexSize || bytes.Equal(a, b) || bytes.Equal(a, c) || !bytes.Equal(a, d) {
		t.Fatalf("indexes: len %d, email==suppression %v, v1==v2 %v, deterministic %v", len(a), bytes.Equal(a, b), bytes.Equal(a, c), bytes.Equal(a, d))
	}
}

func BenchmarkSealField(b *testing.B) {
	kr := openTest(b, b.TempDir(), true)
	dk, _, _ := kr.NewDataKey("c1", 1)
	pt := bytes.Repeat([]byte("x"), 64)
	for b.Loop() {
		if _, err := dk.Seal("contacts", "email", "c1", pt); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIndexKeyIDNamesTheKey: the same keys give the same id after reopening, another
// installation's keys another; the id is IndexSize bytes of hex and is no blind index.
func TestIndexKeyIDNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	a, err := openTest(t, dir, true).IndexKeyID()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := openTest(t, dir, false).IndexKeyID()
	other, _ := openTest(t, t.TempDir(), true).IndexKeyID()
	if len(a) != 2*keys.IndexSize || a != again || a == other {
		t.Errorf("IndexKeyID: %q, reopened %q, other keys %q; want %d hex digits, the same for the same keys only", a, again, other, 2*keys.IndexSize)
	}
}
