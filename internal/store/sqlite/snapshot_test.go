package sqlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/store/sqlite"
)

// readSnapshot reads both files of s as SQLite wrote them.
func readSnapshot(t *testing.T, s *sqlite.Snapshot) (data, keystore []byte) {
	t.Helper()
	out := make([][]byte, 2)
	for i, name := range []string{sqlite.DataFile, sqlite.KeysFile} {
		r, size, err := s.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != size {
			t.Fatalf("%s: read %d bytes; Open said %d", name, len(b), size)
		}
		out[i] = b
	}
	return out[0], out[1]
}

// TestSnapshotWhileWritingIsOneCommit: snapshots taken while another connection commits
// transaction after transaction (each writing both files) hold both files at the same commit
// (equal markers, the key store's anchor at the log's head), read back as plain SQLite files
// from scratch files that hold none of it in plain; Restore writes them, encrypted under another
// key, into a store that opens under that key with the rows and an intact audit chain.
func TestSnapshotWhileWritingIsOneCommit(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir, key, db := markedStore(t, ctx)
	appendEvents(t, ctx, db, 5)

	// A second process's writes: a connection of its own, committing until told to stop.
	other, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var written int
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e := audit.Event{At: base, Actor: audit.Actor{Kind: audit.ActorToken, ID: "tok"}, Action: "contact.read", ObjectKind: "contact", ObjectID: fmt.Sprintf("w-%d", i)}
			if err := other.Update(ctx, func(tx *sqlite.Tx) error { return tx.AppendAudit(ctx, &e) }); err != nil {
				t.Errorf("concurrent write: %v", err)
				return
			}
			written++
		}
	}()
	var snaps []*sqlite.Snapshot
	for range 5 {
		s, err := sqlite.TakeSnapshot(ctx, dir, sqlite.Options{Keys: [][]byte{key}}, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if written == 0 {
		t.Fatal("no write went on during the snapshots")
	}
	for i, s := range snaps {
		if s.DataMarker != s.KeysMarker || s.AuditSeq < 5 || len(s.AuditHash) == 0 || s.Schema < 27 {
			t.Errorf("snapshot %d: markers %d/%d, audit head %d %x, schema %d; want equal markers, the head at 5 or later, a schema", i, s.DataMarker, s.KeysMarker, s.AuditSeq, s.AuditHash, s.Schema)
		}
	}
	s := snaps[len(snaps)-1]
	for _, s := range snaps[:len(snaps)-1] {
		if err := s.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	data, keystore := readSnapshot(t, s)
	for name, b := range map[string][]byte{"data": data, "keystore": keystore} {
		if !bytes.HasPrefix(b, []byte("SQLite format 3\x00")) {
			t.Fatalf("the snapshot's %s file does not read as a SQLite file", name)
		}
	}
	if !bytes.Contains(data, []byte(sealMarker)) || !bytes.Contains(keystore, []byte(keyMarker)) {
		t.Fatal("the snapshot does not hold the rows")
	}

	restored, key2 := t.TempDir(), newKey(t)
	if err := sqlite.Restore(ctx, restored, sqlite.Options{Keys: [][]byte{key2}}, bytes.NewReader(data), bytes.NewReader(keystore)); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(restored); len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the restored directory holds %v; want the two files alone", names)
	}
	assertSealed(t, restored, key2)
	rdb, err := sqlite.OpenWith(ctx, restored, sqlite.Options{Keys: [][]byte{key2}})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	readMarker(t, ctx, rdb)
	if v := verify(t, ctx, rdb); !v.OK || v.HeadSeq != s.AuditSeq {
		t.Errorf("the restored store's audit log: %+v; want intact up to %d, the snapshot's head", v, s.AuditSeq)
	}
	if _, err := sqlite.OpenWith(ctx, restored, sqlite.Options{Keys: [][]byte{key}}); !errors.Is(err, sqlite.ErrNoDiskKey) {
		t.Errorf("the restored store under the old key: %v; want ErrNoDiskKey", err)
	}
}

// TestSnapshotScratchHoldsNothingPlain: while a snapshot exists, its scratch files hold none of
// the store in plain, and Remove removes them.
func TestSnapshotScratchHoldsNothingPlain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir, key, _ := markedStore(t, ctx)
	scratch := t.TempDir()
	s, err := sqlite.TakeSnapshot(ctx, dir, sqlite.Options{Keys: [][]byte{key}}, scratch, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(scratch, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, _ := os.ReadFile(p)
		for _, m := range []string{"SQLite format 3", dataMarker, sealMarker, keyMarker} {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("scratch file %s holds %q in plain", p, m)
			}
		}
		return nil
	})
	if n != 2 {
		t.Errorf("%d scratch files; want 2", n)
	}
	s.Remove()
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("Remove left %d entries in the scratch directory", len(left))
	}
}

// TestRestoreRefuses: a directory that holds a store, a stream that is no SQLite file, one cut
// inside a block, and a data file from a newer program are refused, and nothing is left behind.
func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir, key := t.TempDir(), newKey(t)
	db, err := sqlite.OpenWith(ctx, dir, sqlite.Options{Keys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	writeMarkers(t, ctx, db)
	s, err := sqlite.TakeSnapshot(ctx, dir, sqlite.Options{Keys: [][]byte{key}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	data, keystore := readSnapshot(t, s)

	opt := sqlite.Options{Keys: [][]byte{newKey(t)}}
	if err := sqlite.Restore(ctx, dir, opt, bytes.NewReader(data), bytes.NewReader(keystore)); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("restore over a store: %v; want refused", err)
	}
	db.Close()
	latest, err := sqlite.LatestSchema()
	if err != nil {
		t.Fatal(err)
	}
	newer := t.TempDir()
	execRaw(t, ctx, dir, [][]byte{key}, fmt.Sprintf("INSERT INTO schema_migrations (version, applied_at) VALUES (%d, '2030-01-01T00:00:00Z')", latest+1))
	s2, err := sqlite.TakeSnapshot(ctx, dir, sqlite.Options{Keys: [][]byte{key}}, newer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Remove()
	newerData, _ := readSnapshot(t, s2)

	for _, c := range []struct {
		name           string
		data, keystore []byte
		want           string
	}{
		{"not SQLite", bytes.Repeat([]byte("x"), 8192), keystore, "not a SQLite database"},
		{"cut short", data[:len(data)-100], keystore, "ends"},
		{"key store cut short", data, keystore[:4096+7], "ends"},
		{"empty", nil, keystore, "empty"},
		{"newer schema", newerData, keystore, fmt.Sprintf("knows versions 1 to %d", latest)},
	} {
		to := t.TempDir()
		err := sqlite.Restore(ctx, to, opt, bytes.NewReader(c.data), bytes.NewReader(c.keystore))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want refused (%q)", c.name, err, c.want)
		}
		if left, _ := os.ReadDir(to); len(left) != 0 {
			t.Errorf("%s: %d files left behind", c.name, len(left))
		}
	}
}
