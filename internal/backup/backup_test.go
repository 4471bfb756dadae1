package backup_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tillit/tillit/internal/backup"
)

// fixture is a backup file written by a Writer, with the keys that made it.
type fixture struct {
	path       string
	key        ed25519.PrivateKey
	data, keys *age.X25519Identity
	manifest   backup.Manifest
	content    map[string][]byte // each part's plaintext
}

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newSigningKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// write writes a backup of the given part contents (a keys part when keys is non-nil) into dir.
func write(t *testing.T, dir string, key ed25519.PrivateKey, data, keys *age.X25519Identity, content map[string][]byte) fixture {
	t.Helper()
	w, err := backup.NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	add := func(name, to string, id *age.X25519Identity) {
		if err := w.Add(name, []string{name + ".plain"}, to, []age.Recipient{id.Recipient()}, func(out io.Writer) error {
			_, err := out.Write(content[name])
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	add(backup.DataPart, backup.ToData, data)
	add(backup.LedgerPart, backup.ToData, data)
	m := backup.Manifest{CreatedAt: time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC), Installation: "inst", Store: backup.Store{Backend: "sqlite", SchemaVersion: 27}}
	if keys != nil {
		add(backup.KeysPart, backup.ToKeys, keys)
		m.Keys = &backup.KeysInfo{ExpiresAt: m.CreatedAt.Add(35 * 24 * time.Hour)}
	}
	path := filepath.Join(dir, "tillit.backup")
	m, err = w.Finish(path, m, key)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{path: path, key: key, data: data, keys: keys, manifest: m, content: content}
}

func sample(t *testing.T, dir string) fixture {
	t.Helper()
	return write(t, dir, newSigningKey(t), newIdentity(t), newIdentity(t), map[string][]byte{
		backup.DataPart:   bytes.Repeat([]byte("SQLite format 3\x00 pages "), 60),
		backup.LedgerPart: []byte(`{"type":"ledger","index_key_id":"00"}` + "\n"),
		backup.KeysPart:   bytes.Repeat([]byte("wrapped keys "), 100),
	})
}

func readPart(t *testing.T, b *backup.Backup, name string, ids ...age.Identity) []byte {
	t.Helper()
	r, err := b.Part(name, ids)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRoundTrip: a backup written reads back whole: manifest as written, each part with the
// identity it is encrypted to, not with another; scratch files are gone after Close.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := sample(t, dir)
	b, err := backup.Open(f.path, backup.VerifyKeyOf(f.key))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := b.Manifest
	if m.Format != backup.Format || m.Version != 1 || m.Signer != backup.VerifyKeyOf(f.key).String() || len(m.Parts) != 3 || m.Keys == nil || m.Installation != "inst" {
		t.Fatalf("manifest %+v", m)
	}
	for _, c := range []struct {
		part string
		id   *age.X25519Identity
	}{{backup.DataPart, f.data}, {backup.LedgerPart, f.data}, {backup.KeysPart, f.keys}} {
		if got := readPart(t, b, c.part, c.id); !bytes.Equal(got, f.content[c.part]) {
			t.Errorf("%s reads back %d bytes, not what was written", c.part, len(got))
		}
	}
	if _, err := b.Part(backup.KeysPart, []age.Identity{f.data}); err == nil || !strings.Contains(err.Error(), "encrypted to the keys recipients") {
		t.Errorf("the keys part with the data identity: %v; want refused, naming the keys recipients", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries beside the backup; want the backup alone (no scratch left)", len(entries))
	}
	raw, _ := os.ReadFile(f.path)
	for _, plain := range []string{"pages", "wrapped keys", "index_key_id"} {
		if bytes.Contains(raw, []byte(plain)) {
			t.Errorf("the backup file holds %q in plain", plain)
		}
	}
}

// TestTamperedFilesAreRefused: single bytes flipped, the file cut at every block and at
// odd lengths, bytes added, a part swapped for another backup's, and another installation's
// verify key are all refused by Open, as ErrRefused.
func TestTamperedFilesAreRefused(t *testing.T) {
	dir := t.TempDir()
	f := sample(t, dir)
	orig, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	key := backup.VerifyKeyOf(f.key)
	scratch := t.TempDir()
	try := func(what string, b []byte) error {
		t.Helper()
		p := filepath.Join(scratch, "b")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		bk, err := backup.Open(p, key)
		if err == nil {
			bk.Close()
			t.Errorf("%s: accepted", what)
			return nil
		}
		if !errors.Is(err, backup.ErrRefused) {
			t.Errorf("%s: %v; want ErrRefused", what, err)
		}
		return err
	}
	// Every byte of the manifest, the signature and the end of the archive, every fifth elsewhere.
	for i := range orig {
		if i%5 != 0 && i >= partsAt(len(orig), f.manifest) && i < len(orig)-1536 {
			continue
		}
		b := bytes.Clone(orig)
		b[i] ^= 0x01
		try("byte "+strconv.Itoa(i)+" flipped", b)
	}
	for n := 0; n < len(orig); n += 97 {
		try("cut at "+strconv.Itoa(n), orig[:n])
	}
	for n := len(orig) - 1024; n < len(orig); n += 512 {
		try("cut at "+strconv.Itoa(n), orig[:n])
	}
	try("a byte added", append(bytes.Clone(orig), 0))
	try("a block added", append(bytes.Clone(orig), make([]byte, 512)...))

	// Another backup by the same key, with parts of the same sizes: its keys part in this one's place.
	other := write(t, t.TempDir(), f.key, f.data, f.keys, f.content)
	ob, _ := os.ReadFile(other.path)
	if len(ob) != len(orig) {
		t.Fatalf("the other backup has %d bytes; want %d", len(ob), len(orig))
	}
	keysAt := len(orig) - 1024 - int(f.manifest.Parts[2].Size) - int(pad(f.manifest.Parts[2].Size))
	swapped := append(bytes.Clone(orig[:keysAt]), ob[keysAt:]...)
	if err := try("the keys part swapped", swapped); err != nil && !strings.Contains(err.Error(), "keys.age does not hash") {
		t.Errorf("the keys part swapped: %v; want its hash named", err)
	}
	at := partsAt(len(orig), f.manifest)
	if at != partsAt(len(ob), other.manifest) {
		t.Fatal("the two manifests differ in length")
	}
	if err := try("the other's manifest and signature", append(bytes.Clone(ob[:at]), orig[at:]...)); err != nil && !strings.Contains(err.Error(), "does not hash") {
		t.Errorf("another manifest over these parts: %v; want a part's hash named", err)
	}

	p := filepath.Join(t.TempDir(), "b")
	os.WriteFile(p, orig, 0o600)
	if _, err := backup.Open(p, backup.VerifyKeyOf(newSigningKey(t))); !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), "signature does not verify") || !strings.Contains(err.Error(), key.String()) {
		t.Errorf("another verify key: %v; want the signature refused, naming the signer", err)
	}
	if b, err := backup.Open(p, key); err != nil {
		t.Errorf("the file untouched: %v", err)
	} else {
		b.Close()
	}
}

// TestPartChangedAfterOpenFails: a part's bytes changed between Open and the reading of the part
// make the reader fail at its end, not give io.EOF.
func TestPartChangedAfterOpenFails(t *testing.T) {
	f := sample(t, t.TempDir())
	b, err := backup.Open(f.path, backup.VerifyKeyOf(f.key))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	raw, _ := os.ReadFile(f.path)
	// The last byte of the keys part (age's tag): flipped in place, in the same file.
	at := int64(len(raw)) - 1024 - pad(f.manifest.Parts[2].Size) - 1
	fh, err := os.OpenFile(f.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteAt([]byte{raw[at] ^ 1}, at)
	fh.Close()
	r, err := b.Part(backup.KeysPart, []age.Identity{f.keys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("a part changed after Open read to its end without error")
	}
}

// TestVerifyKeyText: a verify key reads back from its text form, and nothing else reads as one.
func TestVerifyKeyText(t *testing.T) {
	k := backup.VerifyKeyOf(newSigningKey(t))
	got, err := backup.ParseVerifyKey(" " + k.String() + "\n")
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("ParseVerifyKey(%q): %v", k.String(), err)
	}
	for _, bad := range []string{"", "tillit-backup-ed25519:", "ed25519:" + k.String()[22:], k.String() + "AA", k.String()[:30]} {
		if _, err := backup.ParseVerifyKey(bad); err == nil {
			t.Errorf("ParseVerifyKey(%q) accepted", bad)
		}
	}
}

func pad(n int64) int64 { return (512 - n%512) % 512 }

// partsAt is the offset of the first part's header: the manifest and signature come before.
func partsAt(size int, m backup.Manifest) int {
	at := size - 1024
	for _, p := range m.Parts {
		at -= 512 + int(p.Size+pad(p.Size))
	}
	return at
}
