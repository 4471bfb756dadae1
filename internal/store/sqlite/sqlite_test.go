package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // registers database/sql driver "sqlite3"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/sqlite"
	"github.com/tillit/tillit/internal/store/storetest"
)

// guard bounds each test so that a deadlocked store fails instead of hanging the binary. It
// asserts no speed.
const guard = 20 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	t.Cleanup(cancel)
	return ctx
}

func hint(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf(" (the store did not return within %s: deadlock?)", guard)
	}
	return ""
}

// openDB opens the store in dir and closes it when the test ends.
func openDB(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func update(t *testing.T, ctx context.Context, db *sqlite.DB, fn func(*sqlite.Tx) error) {
	t.Helper()
	if err := db.Update(ctx, fn); err != nil {
		t.Fatalf("Update: %v%s", err, hint(err))
	}
}

func verify(t *testing.T, ctx context.Context, db *sqlite.DB) audit.Verification {
	t.Helper()
	v, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	return v
}

func TestContract(t *testing.T) {
	var b backend
	storetest.Run(t, storetest.Backend{Open: b.open, Tamper: b.tamper, Remnants: b.remnants})
}

// backend opens stores for the contract suite with store.Open, each in its own directory, keyed
// as the program keys them (testMAC), and remembers each store's directory for the hooks.
type backend struct {
	mu      sync.Mutex
	handles map[store.Store]*handle
}

// handle is one store the backend opened.
type handle struct {
	dir    string
	closed bool
}

func (b *backend) open(t *testing.T) store.Store { return b.openIn(t, t.TempDir()) }

func (b *backend) openIn(t *testing.T, dir string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), store.Config{URL: dir, AnchorMAC: testMAC, DiskKeys: [][]byte{contractKey}})
	if err != nil {
		t.Fatalf("store.Open(%s): %v", dir, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handles == nil {
		b.handles = map[store.Store]*handle{}
	}
	b.handles[s] = &handle{dir: dir}
	t.Cleanup(func() {
		if !b.handle(t, s).closed {
			b.close(t, s)
		}
	})
	return s
}

func (b *backend) handle(t *testing.T, s store.Store) *handle {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.handles[s]
	if !ok {
		t.Fatalf("storetest passed a store this backend did not open")
	}
	return h
}

func (b *backend) close(t *testing.T, s store.Store) {
	b.handle(t, s).closed = true
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// tamper closes s, rewrites or deletes rows of audit_events in the data file through a plain
// connection (times and field lists spelled as the store stores them) and opens the directory
// again.
func (b *backend) tamper(t *testing.T, s store.Store, edits []storetest.AuditEdit) store.Store {
	t.Helper()
	dir := b.handle(t, s).dir
	b.close(t, s)
	var stmts []string
	for _, e := range edits {
		if e.Delete {
			stmts = append(stmts, fmt.Sprintf("DELETE FROM audit_events WHERE seq = %d", e.Seq))
			continue
		}
		ev := e.Event
		stmts = append(stmts, fmt.Sprintf(`UPDATE audit_events SET at = %s, actor_kind = %s, actor_id = %s, actor_role = %s, action = %s,
			object_kind = %s, object_id = %s, fields = %s, request_id = %s, purpose = %s, prev_hash = x'%x', hash = x'%x' WHERE seq = %d`,
			quote(ev.At.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")), quote(string(ev.Actor.Kind)), quote(ev.Actor.ID), quote(ev.Actor.Role),
			quote(ev.Action), quote(ev.ObjectKind), quote(ev.ObjectID), quote(strings.Join(ev.Fields, ",")), quote(ev.RequestID), quote(ev.Purpose),
			ev.PrevHash, ev.Hash, e.Seq))
	}
	execRaw(t, t.Context(), dir, [][]byte{contractKey}, stmts...)
	return b.openIn(t, dir)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// remnants lists the files of s's directory that hold m as bytes, or once decrypted under the
// contract's key (the store's files are encrypted: the bytes alone would never hold it).
func (b *backend) remnants(t *testing.T, s store.Store, m []byte) []string {
	return filesHolding(t, b.handle(t, s).dir, m, contractKey)
}

// contractKey is the disk key of the contract suite's stores: they run encrypted, as tillit
// runs them.
var contractKey = bytes.Repeat([]byte{0x5a}, sqlite.KeySize)

var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// appendEvents appends n audit events (one transaction each) and returns them as appended.
func appendEvents(t *testing.T, ctx context.Context, db *sqlite.DB, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := range n {
		e := audit.Event{
			At:         base.Add(time.Duration(i) * time.Second),
			Actor:      audit.Actor{Kind: audit.ActorToken, ID: fmt.Sprintf("tok-%d", i%3), Role: "agent"},
			Action:     "contact.read",
			ObjectKind: "contact",
			ObjectID:   fmt.Sprintf("c-%02d", i),
			Fields:     []string{"email", "phone"},
			RequestID:  fmt.Sprintf("req-%02d", i),
			Purpose:    "newsletter",
		}
		update(t, ctx, db, func(tx *sqlite.Tx) error { return tx.AppendAudit(ctx, &e) })
		out = append(out, e)
	}
	return out
}

func TestReopenKeepsAuditHead(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	first := appendEvents(t, ctx, db, 3)
	rec := &contact.Record{ID: "c-kept", Kind: "contact", KeyVersion: 1, EmailIndex: []byte("idx"), Sealed: map[string][]byte{"email": []byte("sealed")},
		CreatedAt: base, UpdatedAt: base, Version: 1}
	update(t, ctx, db, func(tx *sqlite.Tx) error { return tx.InsertContact(ctx, rec) })
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openDB(t, dir)
	if v := verify(t, ctx, db); v != (audit.Verification{OK: true, Checked: 3, HeadSeq: 3}) {
		t.Errorf("VerifyAudit after reopen = %+v, want OK, Checked 3, HeadSeq 3", v)
	}
	e := audit.Event{At: base, Actor: audit.Actor{Kind: audit.ActorCLI, ID: "serve"}, Action: "contact.read", ObjectKind: "contact", ObjectID: "c-kept"}
	update(t, ctx, db, func(tx *sqlite.Tx) error {
		got, err := tx.ContactByID(ctx, "c-kept")
		if err != nil {
			return err
		}
		if !bytes.Equal(got.Sealed["email"], []byte("sealed")) || !got.CreatedAt.Equal(base) {
			t.Errorf("contact after reopen = %+v", got)
		}
		return tx.AppendAudit(ctx, &e)
	})
	if e.Seq != 4 || !bytes.Equal(e.PrevHash, first[2].Hash) {
		t.Errorf("event after reopen: Seq %d PrevHash %x; want Seq 4 PrevHash %x", e.Seq, e.PrevHash, first[2].Hash)
	}
	if v := verify(t, ctx, db); v != (audit.Verification{OK: true, Checked: 4, HeadSeq: 4}) {
		t.Errorf("VerifyAudit = %+v, want OK, Checked 4, HeadSeq 4", v)
	}
}

// TestTwoHandlesShareAuditChain opens the same directory twice, as a CLI command beside a running
// server does: events appended through either handle form one chain.
func TestTwoHandlesShareAuditChain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	a, b := openDB(t, dir), openDB(t, dir)
	prev := audit.Genesis()
	for i, db := range []*sqlite.DB{a, b, b, a, b} {
		e := audit.Event{At: base, Actor: audit.Actor{Kind: audit.ActorCLI, ID: fmt.Sprintf("handle-%d", i)}, Action: "token.create", ObjectKind: "token", ObjectID: fmt.Sprintf("tok-%d", i)}
		update(t, ctx, db, func(tx *sqlite.Tx) error { return tx.AppendAudit(ctx, &e) })
		if e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) {
			t.Errorf("event %d: Seq %d PrevHash %x; want Seq %d PrevHash %x", i, e.Seq, e.PrevHash, i+1, prev)
		}
		prev = e.Hash
	}
	for name, db := range map[string]*sqlite.DB{"a": a, "b": b} {
		if v := verify(t, ctx, db); v != (audit.Verification{OK: true, Checked: 5, HeadSeq: 5}) {
			t.Errorf("VerifyAudit through %s = %+v, want OK, Checked 5, HeadSeq 5", name, v)
		}
	}
}

// execRaw runs statements on the files of the store in dir, opened beside it under keys
// (sqlite.OpenFiles), and checks that each UPDATE or DELETE changed at least one row.
func execRaw(t *testing.T, ctx context.Context, dir string, keys [][]byte, stmts ...string) {
	t.Helper()
	raw, err := sqlite.OpenFiles(dir, keys) // one connection: the TEMP table is visible to the next statement
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, s := range stmts {
		res, err := raw.ExecContext(ctx, s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if n, _ := res.RowsAffected(); n == 0 && !strings.HasPrefix(s, "CREATE") {
			t.Fatalf("%s: changed no row", s)
		}
	}
}

// filesHolding returns the names of the files in dir whose bytes contain m, as they are or
// decrypted under one of keys (sqlite.Plaintext).
func filesHolding(t *testing.T, dir string, m []byte, keys ...[]byte) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if pt, _ := sqlite.Plaintext(b, keys); bytes.Contains(b, m) || bytes.Contains(pt, m) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestFilesAreOwnerOnly: SQLite created the write-ahead logs and shared-memory files with the
// process umask (0644), so a data directory that others could enter exposed them: the same
// pages as the 0600 database files. Every file is 0600, also after reopening.
func TestFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		db, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, ctx, db, 2)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var wal int
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(e.Name(), "-wal") {
				wal++
			}
			if m := fi.Mode().Perm(); m&0o077 != 0 {
				t.Errorf("round %d: %s has mode %v; want no access for group or others", round, e.Name(), m)
			}
		}
		if wal != 2 {
			t.Errorf("round %d: %d write-ahead logs in %v; want 2 (database and key store)", round, wal, entries)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAnchorSealedOnlyAtTheUpgrade: the Open that adds the anchor's MAC column seals the anchor
// written before it (trust on first use); any later anchor without a valid MAC is forged.
func TestAnchorSealedOnlyAtTheUpgrade(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir) // applies every migration, the MAC column last
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, ctx, db, 3) // written unkeyed, as before the upgrade
	mac := func(seq int64, hash []byte) ([]byte, error) {
		return append([]byte(fmt.Sprintf("mac:%d:", seq)), hash...), nil
	}
	db.AnchorMAC = mac
	if err := db.SealAnchor(ctx); err != nil {
		t.Fatal(err)
	}
	if v := verify(t, ctx, db); !v.OK {
		t.Errorf("after sealing at the upgrade: %+v; want OK", v)
	}
	appendEvents(t, ctx, db, 1)
	if v := verify(t, ctx, db); !v.OK || v.HeadSeq != 4 {
		t.Errorf("after a keyed append: %+v; want OK at 4", v)
	}
	db.Close()

	db = openDB(t, dir)
	db.AnchorMAC = mac
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.KeysFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("UPDATE audit_anchor SET mac = NULL"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if err := db.SealAnchor(ctx); err != nil { // not the upgrade: seals nothing
		t.Fatal(err)
	}
	if v := verify(t, ctx, db); v.OK || v.Reason != "anchor_forged" || v.FirstBroken != 4 {
		t.Errorf("anchor with its MAC removed: %+v; want anchor_forged at 4", v)
	}
}

// TestReadyAnswersForTheAuditHead: /readyz's check. A store whose log lost its newest events
// (the anchor is ahead) cannot chain the next event honestly: not ready, with the reason.
func TestReadyAnswersForTheAuditHead(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db := openDB(t, dir)
	if r := db.Ready(ctx, time.Second); !r.Ready {
		t.Fatalf("Ready on a new store = %+v", r)
	}
	appendEvents(t, ctx, db, 3)
	if r := db.Ready(ctx, time.Second); !r.Ready {
		t.Fatalf("Ready after writes = %+v", r)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A deleted newest event: writes still work (after a gap verify reports): ready.
	execRaw(t, ctx, dir, nil, `DELETE FROM audit_events WHERE seq = 3`)
	db = openDB(t, dir)
	if r := db.Ready(ctx, time.Second); !r.Ready {
		t.Errorf("Ready after the newest event was deleted = %+v, want ready (a write appends after the gap)", r)
	}
	appendEvents(t, ctx, db, 1)
	db.Close()
	// An event beyond the anchor that no crash left (the markers agree): the next write would
	// collide with it, so not ready.
	execRaw(t, ctx, dir, nil, `INSERT INTO audit_events (seq, at, actor_kind, actor_id, actor_role, action, object_kind, object_id, fields, request_id, purpose, prev_hash, hash)
		SELECT seq + 1, at, actor_kind, actor_id, actor_role, action, object_kind, object_id, fields, request_id, purpose, hash, hash FROM audit_events WHERE seq = 4`)
	db = openDB(t, dir)
	if r := db.Ready(ctx, time.Second); r.Ready || r.Reason != "audit_head_mismatch" {
		t.Errorf("Ready with an event beyond the anchor = %+v, want not ready, audit_head_mismatch", r)
	}
	e := audit.Event{At: base, Actor: audit.Actor{Kind: audit.ActorSystem, ID: "t"}, Action: "contact.read", ObjectKind: "contact", ObjectID: "c-x"}
	if err := db.Update(ctx, func(tx *sqlite.Tx) error { return tx.AppendAudit(ctx, &e) }); err == nil {
		t.Error("a write succeeded while readiness said it could not")
	}
}

// rawExec runs statements on one database file directly, as someone holding the file would.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

var testMAC = func(seq int64, hash []byte) ([]byte, error) {
	return append([]byte(fmt.Sprintf("mac:%d:", seq)), hash...), nil
}

// openKeyed opens the store as the program does: with the anchor's MAC, sealed.
func openKeyed(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db := openDB(t, dir)
	db.AnchorMAC = testMAC
	if err := db.SealAnchor(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestSplitFromBeforeTheMarkersIsRepaired: a store left by the original defect (the log one
// event ahead of its anchor, no commit markers yet) is repaired by the upgrade's first write.
func TestSplitFromBeforeTheMarkersIsRepaired(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db := openKeyed(t, dir)
	ev := appendEvents(t, ctx, db, 3)
	db.Close()
	mac2, _ := testMAC(2, ev[1].Hash)
	rawExec(t, filepath.Join(dir, sqlite.KeysFile),
		fmt.Sprintf("UPDATE audit_anchor SET seq = 2, hash = x'%x', mac = x'%x'", ev[1].Hash, mac2),
		"DROP TABLE commit_marker")
	rawExec(t, filepath.Join(dir, sqlite.DataFile), "DROP TABLE commit_marker")
	db = openKeyed(t, dir)
	rep, err := db.Reconcile(ctx)
	if err != nil || rep == nil || rep.AnchorFrom != 2 || rep.AnchorTo != 3 {
		t.Fatalf("Reconcile = %+v, %v; want the anchor moved from 2 to 3", rep, err)
	}
	if v := verify(t, ctx, db); !v.OK || v.HeadSeq != 3 {
		t.Errorf("verify after the upgrade's repair: %+v", v)
	}
	appendEvents(t, ctx, db, 1)
}

// TestRepairSignsNoEventForgedInTheDataFile: someone who can write tillit.db alone appends an
// event that chains and moves the data file's marker, as a crash would leave it. The repair
// moves the anchor only to the one the last commit recorded with its MAC, so the forged event
// stays beyond the anchor and verify reports it.
func TestRepairSignsNoEventForgedInTheDataFile(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db := openKeyed(t, dir)
	ev := appendEvents(t, ctx, db, 3)
	db.Close()
	forged := ev[2]
	forged.Seq, forged.Action, forged.ObjectID = 4, "contact.erase", "c-forged"
	forged.PrevHash = ev[2].Hash
	forged.Hash = forged.ComputeHash(ev[2].Hash)
	rawExec(t, filepath.Join(dir, sqlite.DataFile),
		fmt.Sprintf(`INSERT INTO audit_events (seq, at, actor_kind, actor_id, actor_role, action, object_kind, object_id, fields, request_id, purpose, prev_hash, hash)
		 SELECT 4, at, actor_kind, actor_id, actor_role, 'contact.erase', object_kind, 'c-forged', fields, request_id, purpose, x'%x', x'%x' FROM audit_events WHERE seq = 3`, forged.PrevHash, forged.Hash),
		"UPDATE commit_marker SET gen = gen + 1")
	db = openKeyed(t, dir)
	if _, err := db.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if v := verify(t, ctx, db); v.OK || v.FirstBroken != 4 {
		t.Errorf("verify after a forged event and a moved marker: %+v; want broken at 4", v)
	}
}

// TestForgedAnchorRefusesWrites: a write used to re-sign whatever anchor it found, so one
// sign-up after the anchor was rewritten made verify say intact. Now the write is refused and
// readiness names the reason.
func TestForgedAnchorRefusesWrites(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db := openKeyed(t, dir)
	ev := appendEvents(t, ctx, db, 3)
	db.Close()
	rawExec(t, filepath.Join(dir, sqlite.KeysFile), fmt.Sprintf("UPDATE audit_anchor SET seq = 2, hash = x'%x', mac = x'00'", ev[1].Hash))
	rawExec(t, filepath.Join(dir, sqlite.DataFile), "DELETE FROM audit_events WHERE seq = 3")
	db = openKeyed(t, dir)
	e := audit.Event{At: base, Actor: audit.Actor{Kind: audit.ActorSystem, ID: "t"}, Action: "contact.read", ObjectKind: "contact", ObjectID: "c-x"}
	err := db.Update(ctx, func(tx *sqlite.Tx) error { return tx.AppendAudit(ctx, &e) })
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Reason != "anchor_forged" {
		t.Errorf("a write over a forged anchor: %v; want refused, anchor_forged", err)
	}
	if v := verify(t, ctx, db); v.Reason != "anchor_forged" {
		t.Errorf("verify after the refused write: %+v; want anchor_forged", v)
	}
	if r := db.Ready(ctx, time.Second); r.Ready || r.Reason != "anchor_forged" {
		t.Errorf("Ready = %+v; want anchor_forged", r)
	}
}

// TestErasureHashesBackfilled: migration 0021 gives erasures recorded before it the hashes their
// erasure suppressed (reason erased, the erasure's own instant), and no other hash.
func TestErasureHashesBackfilled(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	const at, other = "2025-03-14T15:09:26.535897932Z", "2025-03-14T15:09:26.535897933Z"
	for _, stmt := range []string{
		"ALTER TABLE erasure_ledger DROP COLUMN suppression_hashes",
		"DELETE FROM schema_migrations WHERE version = 21",
		"INSERT INTO erasure_ledger (contact_id, erased_at) VALUES ('with-hashes', '" + at + "'), ('without', '" + other + "')",
		"INSERT INTO suppressions (hash, reason, created_at) VALUES (x'00112233445566778899aabbccddeeff', 'erased', '" + at + "'), (x'ff', 'erased', '" + at + "'), (x'01', 'bounced', '" + at + "'), (x'02', 'erased', '2025-01-01T00:00:00.000000000Z')",
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	raw.Close()
	db = openDB(t, dir) // applies 0021 again
	var es []ledger.Erasure
	err = db.View(ctx, func(tx *sqlite.Tx) error {
		var err error
		es, err = tx.LedgerErasures(ctx, time.Time{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].ContactID != "with-hashes" || len(es[0].SuppressionHashes) != 2 || len(es[1].SuppressionHashes) != 0 {
		t.Fatalf("erasures after the migration: %+v; want the two erased hashes of its instant on the first, none on the second", es)
	}
	got := []string{hex.EncodeToString(es[0].SuppressionHashes[0]), hex.EncodeToString(es[0].SuppressionHashes[1])}
	if !(got[0] == "00112233445566778899aabbccddeeff" && got[1] == "ff" || got[1] == "00112233445566778899aabbccddeeff" && got[0] == "ff") {
		t.Errorf("hashes %v", got)
	}
}

// TestMigration0025: list unsubscribes recorded before migration 0025 get the migration's time
// as their recorded time (so an export --since any earlier time carries them), and an entry of
// the suppression list made at or before an erasure that names its hash becomes reason erased at
// the erasure's time; an entry made after that erasure, or of an address no erasure names, keeps
// its reason and time.
func TestMigration0025(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	const erased, before, after = "2025-03-14T15:09:26.535897932Z", "2025-03-13T00:00:00.000000000Z", "2025-03-15T00:00:00.000000000Z"
	for _, stmt := range []string{
		"PRAGMA foreign_keys = OFF",        // the purpose's row is not what is tested
		"DROP INDEX suppressions_recorded", // 0026, applied again after 0025
		"ALTER TABLE suppressions DROP COLUMN recorded_at",
		"DELETE FROM schema_migrations WHERE version = 26",
		"DROP INDEX purpose_unsubscribes_recorded",
		"ALTER TABLE purpose_unsubscribes DROP COLUMN recorded_at",
		"DELETE FROM schema_migrations WHERE version = 25",
		"INSERT INTO purpose_unsubscribes (hash, purpose_id, at) VALUES (x'aa', 'newsletter', '2024-05-01T10:00:00.000000000Z')",
		`INSERT INTO erasure_ledger (contact_id, erased_at, suppression_hashes) VALUES ('gone', '` + erased + `', '["b1","c1","e1"]')`,
		"INSERT INTO suppressions (hash, reason, created_at) VALUES (x'b1', 'bounced', '" + before + "'), (x'c1', 'erased', '" + erased + "'), " +
			"(x'd1', 'complained', '" + before + "'), (x'e1', 'bounced', '" + after + "')",
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	raw.Close()
	start := time.Now().UTC()
	db = openDB(t, dir) // applies 0025 again
	err = db.View(ctx, func(tx *sqlite.Tx) error {
		us, err := tx.LedgerListUnsubscribes(ctx, start.Add(-time.Second))
		if err != nil || len(us) != 1 || us[0].RecordedAt.Before(start.Add(-time.Second)) || us[0].RecordedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("list unsubscribes since just before the migration: %+v %v; want the one recorded before it, at the migration's time", us, err)
		}
		for hash, want := range map[string][2]string{"b1": {"erased", erased}, "c1": {"erased", erased}, "d1": {"complained", before}, "e1": {"bounced", after}} {
			h, _ := hex.DecodeString(hash)
			s, err := tx.Suppression(ctx, h)
			if at, _ := time.Parse(time.RFC3339Nano, want[1]); err != nil || s.Reason != want[0] || !s.CreatedAt.Equal(at) {
				t.Errorf("suppression %s: %+v %v; want %s at %s", hash, s, err, want[0], want[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigration0026: suppressions made before the migration (an imported cleaned row whose
// CLEAN_TIME is years old) get the migration's time as recorded_at, so tillit ledger export
// --since any earlier time carries them; their created_at stays the event's time.
func TestMigration0026(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	const cleaned = "2019-02-03T04:05:06.000000000Z"
	for _, stmt := range []string{
		"DROP INDEX suppressions_recorded",
		"ALTER TABLE suppressions DROP COLUMN recorded_at",
		"DELETE FROM schema_migrations WHERE version = 26",
		"INSERT INTO suppressions (hash, reason, created_at) VALUES (x'b1', 'bounced', '" + cleaned + "')",
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	raw.Close()
	start := time.Now().UTC()
	db = openDB(t, dir) // applies 0026 again
	err = db.View(ctx, func(tx *sqlite.Tx) error {
		ss, err := tx.LedgerSuppressions(ctx, start.Add(-time.Second))
		if err != nil || len(ss) != 1 || ss[0].CreatedAt.Format(time.RFC3339) != "2019-02-03T04:05:06Z" ||
			ss[0].RecordedAt.Before(start.Add(-time.Second)) || ss[0].RecordedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("suppressions since just before the migration: %+v %v; want the 2019 bounce, recorded at the migration's time", ss, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
