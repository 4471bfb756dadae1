package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/store/sqlite"
)

// newKey returns a random disk key.
func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, sqlite.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// Markers written in columns the store keeps as they are (ids, the sealed bytes handed to it):
// plain files hold them as bytes; encrypted files must not.
const (
	dataMarker = "c-plainmarker-data"
	sealMarker = "sealed-plainmarker-bytes"
	keyMarker  = "wrapped-plainmarker-key"
)

// writeMarkers writes a contact whose id, sealed field and wrapped key are the markers.
func writeMarkers(t *testing.T, ctx context.Context, db *sqlite.DB) {
	t.Helper()
	rec := &contact.Record{ID: dataMarker, Kind: "contact", KeyVersion: 1, EmailIndex: []byte("idx-0123456789ab"),
		Sealed: map[string][]byte{"email": []byte(sealMarker)}, CreatedAt: base, UpdatedAt: base, Version: 1}
	update(t, ctx, db, func(tx *sqlite.Tx) error {
		if err := tx.InsertContact(ctx, rec); err != nil {
			return err
		}
		return tx.InsertDataKey(ctx, dataMarker, 1, []byte(keyMarker), base)
	})
}

// markedStore opens a new store encrypted under a new key in a temporary directory and writes
// writeMarkers' rows into it; it is closed when the test ends.
func markedStore(t *testing.T, ctx context.Context) (dir string, key []byte, db *sqlite.DB) {
	t.Helper()
	dir, key = t.TempDir(), newKey(t)
	db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	writeMarkers(t, ctx, db)
	return dir, key, db
}

// readMarker reads the contact writeMarkers wrote.
func readMarker(t *testing.T, ctx context.Context, db *sqlite.DB) {
	t.Helper()
	update(t, ctx, db, func(tx *sqlite.Tx) error {
		got, err := tx.ContactByID(ctx, dataMarker)
		if err != nil {
			return err
		}
		if string(got.Sealed["email"]) != sealMarker {
			t.Errorf("the contact's sealed field reads %q; want %q", got.Sealed["email"], sealMarker)
		}
		return nil
	})
}

// storeFiles reads every file of the store in dir: the two files and, while it is open, their
// write-ahead logs.
func storeFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{sqlite.DataFile, sqlite.KeysFile, sqlite.DataFile + "-wal", sqlite.KeysFile + "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(name, "-wal") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// assertSealed checks that the store's files in dir (logs included) hold no SQLite header and
// no marker as bytes, while their decryption under key holds both: the markers are there, under
// the encryption, and the scan looked at the right bytes.
func assertSealed(t *testing.T, dir string, key []byte) {
	t.Helper()
	files := storeFiles(t, dir)
	var plainData, plainKeys []byte
	for name, b := range files {
		if len(b) == 0 {
			continue
		}
		for _, m := range []string{"SQLite format 3", dataMarker, sealMarker, keyMarker} {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds %q as bytes", name, m)
			}
		}
		pt, ok := sqlite.Plaintext(b, [][]byte{key})
		if !ok {
			t.Errorf("%s does not decrypt under its key", name)
			continue
		}
		switch name {
		case sqlite.DataFile, sqlite.DataFile + "-wal":
			plainData = append(plainData, pt...)
		case sqlite.KeysFile, sqlite.KeysFile + "-wal":
			plainKeys = append(plainKeys, pt...)
		}
	}
	for _, m := range []string{dataMarker, sealMarker} {
		if !bytes.Contains(plainData, []byte(m)) {
			t.Errorf("the decrypted data file and its log do not hold %q: the scan saw no content", m)
		}
	}
	if !bytes.Contains(plainKeys, []byte(keyMarker)) {
		t.Errorf("the decrypted key store and its log do not hold %q: the scan saw no content", keyMarker)
	}
}

// TestEncryptedFilesHoldNoHeaderNoPlaintextAndOpenOnlyWithTheirKey: a store opened with a disk
// key writes both files (and their logs) encrypted: no SQLite header, none of the bytes written
// in plain columns, yet all of it under the encryption; the store opens with the key, and with
// no key, another key or a plain SQLite connection it does not.
func TestEncryptedFilesHoldNoHeaderNoPlaintextAndOpenOnlyWithTheirKey(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	key := newKey(t)
	db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	if p := db.PlainFiles(); len(p) != 0 {
		t.Errorf("PlainFiles of a new store with a key: %v; want none", p)
	}
	writeMarkers(t, ctx, db)
	assertSealed(t, dir, key) // open: the rows are in the logs
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	assertSealed(t, dir, key) // closed: checkpointed into the files
	if _, err := os.Stat(filepath.Join(dir, sqlite.DataFile+"-wal")); err == nil {
		t.Log("the data file's log outlived Close")
	}

	for name, keys := range map[string][][]byte{"no key": nil, "another key": {newKey(t)}} {
		if db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: keys}); err == nil {
			db.Close()
			t.Errorf("the encrypted store opened with %s", name)
		} else if strings.Contains(err.Error(), hex.EncodeToString(key)) {
			t.Errorf("the error names the key: %v", err)
		}
	}
	if _, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{newKey(t)}}); !errors.Is(err, sqlite.ErrNoDiskKey) {
		t.Errorf("opened with another key: %v; want ErrNoDiskKey", err)
	}
	for _, name := range []string{sqlite.DataFile, sqlite.KeysFile} {
		raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, name)+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := raw.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); err == nil {
			t.Errorf("%s opened as a plain SQLite file (%d schema rows)", name, n)
		}
		raw.Close()
	}
	// The key opens it, also listed after another (a rotation's new key first).
	db, err = sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{newKey(t), key}})
	if err != nil {
		t.Fatal(err)
	}
	readMarker(t, ctx, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPlainStoreStaysPlain: files made without a key are plain and keep opening plain when keys
// are given later (an installation from before disk encryption, until it is converted), and
// say so (PlainFiles).
func TestPlainStoreStaysPlain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeMarkers(t, ctx, db)
	db.Close()
	if got := filesHolding(t, dir, []byte(sealMarker)); len(got) == 0 {
		t.Fatal("the plain store's files do not hold the marker: the scan would prove nothing")
	}
	db, err = sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{newKey(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	readMarker(t, ctx, db)
	if p := db.PlainFiles(); len(p) != 2 {
		t.Errorf("PlainFiles: %v; want both files", p)
	}
}

// TestKeyNeverInErrors: an attached key store that cannot be opened made SQLite quote its URI,
// key included, in the error.
func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	key := newKey(t)
	db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	keys := filepath.Join(dir, sqlite.KeysFile)
	// A key store that cannot be made: a link to a directory that does not exist.
	if err := os.Remove(keys); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "missing", sqlite.KeysFile), keys); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{key}})
	if err == nil {
		db.Close()
		t.Fatal("opened a store whose key store cannot be made")
	}
	if strings.Contains(err.Error(), hex.EncodeToString(key)) {
		t.Errorf("the error names the key: %v", err)
	}
	if !strings.Contains(err.Error(), "[key]") {
		t.Errorf("error %q; want SQLite's message with the key cut out", err)
	}
}

// TestResealEncryptsAndRotates: Reseal copies a plain store under a key (reporting progress up
// to every page of both files), then under another key; each time the store opens under the
// new key only and holds what it held.
func TestResealEncryptsAndRotates(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeMarkers(t, ctx, db)
	if err := sqlite.Reseal(ctx, dir, sqlite.Options{}, newKey(t), nil); !errors.Is(err, sqlite.ErrInUse) {
		t.Errorf("Reseal while the store is open: %v; want ErrInUse", err)
	}
	db.Close()

	k1, k2 := newKey(t), newKey(t)
	last := map[string][2]int{}
	progress := func(file string, done, total int) { last[file] = [2]int{done, total} }
	if err := sqlite.Reseal(ctx, dir, sqlite.Options{}, k1, progress); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{sqlite.DataFile, sqlite.KeysFile} {
		if p := last[f]; p[1] == 0 || p[0] != p[1] {
			t.Errorf("last progress of %s: %d of %d pages; want all of them", f, p[0], p[1])
		}
	}
	assertSealed(t, dir, k1)
	for _, leftover := range []string{sqlite.DataFile + ".new", sqlite.KeysFile + ".new"} {
		if _, err := os.Stat(filepath.Join(dir, leftover)); err == nil {
			t.Errorf("%s left behind", leftover)
		}
	}
	db, err = sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{k1}})
	if err != nil {
		t.Fatal(err)
	}
	readMarker(t, ctx, db)
	db.Close()

	if err := sqlite.Reseal(ctx, dir, sqlite.Options{Keys: [][]byte{k2, k1}}, k2, nil); err != nil {
		t.Fatal(err)
	}
	assertSealed(t, dir, k2)
	if db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{k1}}); err == nil {
		db.Close()
		t.Error("the store opened under the key it was rotated away from")
	}
	db, err = sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{k2}})
	if err != nil {
		t.Fatal(err)
	}
	readMarker(t, ctx, db)
	db.Close()
}

// TestSettleAfterAnInterruptedSwap: what a conversion killed at each step leaves opens as one
// whole store: copies found beside the old files (the copy unfinished, or finished but not yet
// swapped in) are removed and the old files open; a data file swapped in with the key store's
// copy still beside it gets the key store's copy renamed in.
func TestSettleAfterAnInterruptedSwap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	key := newKey(t)
	plain := t.TempDir()
	db, err := sqlite.OpenWith(ctx, plain, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeMarkers(t, ctx, db)
	db.Close()
	sealed := t.TempDir()
	copyDir(t, plain, sealed)
	if err := sqlite.Reseal(ctx, sealed, sqlite.Options{}, key, nil); err != nil {
		t.Fatal(err)
	}
	read := func(t *testing.T, dir string, wantPlain int) {
		t.Helper()
		db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{key}})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		readMarker(t, ctx, db)
		if n := len(db.PlainFiles()); n != wantPlain {
			t.Errorf("%d plain files; want %d", n, wantPlain)
		}
		for _, leftover := range []string{sqlite.DataFile + ".new", sqlite.KeysFile + ".new"} {
			if _, err := os.Stat(filepath.Join(dir, leftover)); err == nil {
				t.Errorf("%s left behind", leftover)
			}
		}
	}
	t.Run("copying", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, plain, dir)
		writeFile(t, filepath.Join(dir, sqlite.DataFile+".new"), readFile(t, filepath.Join(sealed, sqlite.DataFile)))
		writeFile(t, filepath.Join(dir, sqlite.KeysFile+".new"), []byte("half a copy"))
		read(t, dir, 2)
	})
	t.Run("copied", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, plain, dir)
		writeFile(t, filepath.Join(dir, sqlite.DataFile+".new"), readFile(t, filepath.Join(sealed, sqlite.DataFile)))
		writeFile(t, filepath.Join(dir, sqlite.KeysFile+".new"), readFile(t, filepath.Join(sealed, sqlite.KeysFile)))
		read(t, dir, 2)
	})
	t.Run("between-the-renames", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, plain, dir)
		writeFile(t, filepath.Join(dir, sqlite.DataFile), readFile(t, filepath.Join(sealed, sqlite.DataFile)))
		writeFile(t, filepath.Join(dir, sqlite.KeysFile+".new"), readFile(t, filepath.Join(sealed, sqlite.KeysFile)))
		read(t, dir, 0)
	})
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the files of a closed store's directory.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			writeFile(t, filepath.Join(to, e.Name()), readFile(t, filepath.Join(from, e.Name())))
		}
	}
}
