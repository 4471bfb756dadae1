package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
	"github.com/tillit/tillit/internal/throttle"
)

// keyTuple inserts a data key for id whose wrapped bytes are a fresh marker, in a transaction of
// its own, and returns the marker.
func keyTuple(t *testing.T, db *DB, id string) []byte {
	t.Helper()
	ctx := context.Background()
	m := []byte("TILLIT-REVIEW-KEY-" + randomName(t, id+"-"))
	if err := db.Update(ctx, func(tx store.Tx) error {
		return tx.InsertDataKey(ctx, id, 1, m, time.Now().UTC())
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// keyFileHolds reports whether the files of db's contact_keys relation (after a vacuum of
// everything Purge asks for and a checkpoint) hold m.
func keyFileHolds(t *testing.T, db *DB, m []byte) bool {
	t.Helper()
	b := &backend{admin: pgtest.Open(t)}
	for _, f := range b.scan(t, db).files {
		if f.table == db.keys+".contact_keys" && bytes.Contains(f.body, m) {
			return true
		}
	}
	return false
}

// filesHolding checkpoints and reports the relations of schema data and its key schema (TOAST
// and indexes included) whose files hold m, without vacuuming anything first.
func filesHolding(t *testing.T, data string, m []byte) []string {
	t.Helper()
	return filesHoldingOn(t, pgtest.Open(t), data, m)
}

// filesHoldingOn is filesHolding through admin, a connection to the test database.
func filesHoldingOn(t *testing.T, admin *sql.DB, data string, m []byte) []string {
	t.Helper()
	if _, err := admin.Exec("CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	var dir string
	if err := admin.QueryRow("SHOW data_directory").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	rows, err := admin.Query(`SELECT n.nspname || '.' || c.relname, pg_relation_filepath(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE pg_relation_filepath(c.oid) IS NOT NULL AND (n.nspname IN ($1, $2)
		OR c.oid IN (SELECT t.reltoastrelid FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE tn.nspname IN ($1, $2)))`, data, data+"_keys")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, path string
		if err := rows.Scan(&name, &path); err != nil {
			t.Fatal(err)
		}
		matches, _ := filepath.Glob(filepath.Join(dir, path) + "*")
		for _, f := range matches {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("read %s (the test must run where the server keeps its files): %v", f, err)
			}
			if bytes.Contains(body, m) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// TestRefusedPostWakesNoNode: a public form's post that the shared rate limit refuses changes
// nothing, yet its transaction (DELETE of windows that passed, none; a read) counts as one that
// wrote (Tx.wrote: any statement but a SELECT), so it ends with pg_notify: every refused post
// of a flood, which costs its sender nothing, drops the caches of keys, consent facts and tokens
// on every node and wakes the leader's outbox and walker. A transaction that changed no row
// must notify no one.
func TestRefusedPostWakesNoNode(t *testing.T) {
	a, b := openPair(t)
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); !b.listening.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b's listener did not connect")
		}
	}
	w := &throttle.Windows{Store: store.Throttle(a), Key: func(c string) ([]byte, error) { return []byte("k:" + c), nil }}
	now := time.Now()
	if ok, _, err := w.Allow(ctx, "subscribe", "192.0.2.1", 1, time.Hour, now); err != nil || !ok {
		t.Fatalf("first post: %v, %v; want allowed", ok, err)
	}
	time.Sleep(300 * time.Millisecond) // b hears the first post's commit
	quiet := b.gen.Load()
	for i := range 20 {
		if ok, _, err := w.Allow(ctx, "subscribe", "192.0.2.1", 1, time.Hour, now.Add(time.Duration(i)*time.Millisecond)); err != nil || ok {
			t.Fatalf("post %d: %v, %v; want refused", i+2, ok, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if moved := b.gen.Load() - quiet; moved != 0 {
		t.Errorf("20 refused posts on a moved b's generation %d times; want 0: a refusal changes nothing, so no node's caches should drop", moved)
	}
}

// TestSchemaOfAnotherStoreIsRefused: the key schema is the data schema's name plus "_keys", and
// a data schema may itself end in "_keys". A store opened with schema=NAME while another
// installation's data lives in NAME_keys takes that data schema for its key schema: it revokes
// PUBLIC's access to it, and creates contact_keys and audit_anchor in it, beside the other's
// contacts, so a dump of the other's data schema holds this one's keys. Open must refuse a key
// schema that holds a store's data tables (and a data schema that is another store's key schema).
func TestSchemaOfAnotherStoreIsRefused(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.Open(t)
	name, u := pgtest.FreshSchema(t, "review13_s_")
	t.Cleanup(func() { pgtest.DropSchemas(t, pgtest.URL(t), name+"_keys_keys") })
	openSchemaNode(t, name+"_keys", Config{}) // an installation whose data schema is NAME_keys
	db, err := Open(ctx, u, Config{})
	if err == nil {
		db.Close()
		var keysInOthersData bool
		admin.QueryRow("SELECT to_regclass($1) IS NOT NULL", quoteIdent(name+"_keys")+".contact_keys").Scan(&keysInOthersData)
		t.Errorf("Open(schema=%s) succeeded while %s_keys is another store's data schema (its contact_keys now in that schema: %v); want it refused", name, name, keysInOthersData)
	}
}

// TestErasureVacuumSurvivesARestart: the vacuums an erasure needs are remembered only in the
// memory of the node that erased (Purge right after the commit; the vacuumer's due time). A node
// killed between the erasure's commit and its Purge leaves the person's key as a dead tuple in
// contact_keys, and a node stopped (or killed) within DataVacuumDelay of an erasure leaves the
// person's rows (ciphertext, and the keyed hashes of their e-mail and phone in the indexes) in
// the data files: Close leaves the vacuum "to autovacuum", whose threshold (50 dead tuples plus
// 20% of the table) a few erasures never reach. No node that starts or runs later vacuums them.
func TestErasureVacuumSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	t.Run("killed before Purge", func(t *testing.T) {
		dead, schema := openFresh(t, "review13_r_", Config{})
		gone := keyTuple(t, dead, "erased") // the older tuple: a vacuum's compaction covers it
		keyTuple(t, dead, "kept")
		if err := dead.Update(ctx, func(tx store.Tx) error { return tx.DeleteDataKey(ctx, "erased") }); err != nil {
			t.Fatal(err)
		}
		// The node dies here, before its Purge. The cluster goes on with a node (re)started.
		openSchemaNode(t, schema, Config{DataVacuumDelay: 100 * time.Millisecond})
		time.Sleep(3 * time.Second)
		if places := filesHolding(t, schema, gone); len(places) != 0 {
			t.Errorf("3 s after a restart the erased person's wrapped key remains in %v: no node vacuums the key tables for an erasure whose node died before its Purge", places)
		}
	})
	t.Run("stopped within the data vacuum's delay", func(t *testing.T) {
		first, schema := openFresh(t, "review13_r_", Config{})
		phone := []byte("TILLIT-REVIEW-PHONE-" + randomName(t, ""))
		for _, c := range []struct {
			id    string
			phone []byte
		}{{"erased", phone}, {"kept", []byte("TILLIT-REVIEW-PHONE-kept-" + randomName(t, ""))}} {
			now := time.Now().UTC()
			rec := &contact.Record{ID: c.id, Kind: contact.KindContact, KeyVersion: 1, PhoneIndex: c.phone,
				Sealed: map[string][]byte{"notes": []byte("sealed-" + c.id)}, CreatedAt: now, UpdatedAt: now, Version: 1}
			if err := first.Update(ctx, func(tx store.Tx) error {
				if err := tx.InsertDataKey(ctx, c.id, 1, []byte("key-"+c.id), now); err != nil {
					return err
				}
				return tx.InsertContact(ctx, rec)
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := first.Update(ctx, func(tx store.Tx) error {
			if err := tx.DeleteDataKey(ctx, "erased"); err != nil {
				return err
			}
			return tx.DeleteContact(ctx, "erased")
		}); err != nil {
			t.Fatal(err)
		}
		if err := first.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		first.Close() // a deploy restarts the node within the minute
		openSchemaNode(t, schema, Config{DataVacuumDelay: 100 * time.Millisecond})
		time.Sleep(3 * time.Second)
		if places := filesHolding(t, schema, phone); len(places) != 0 {
			t.Errorf("after a restart within DataVacuumDelay of an erasure the person's phone index remains in %v: the vacuum asked for was dropped at Close and no node runs it", places)
		}
	})
}

// TestErasedNewestKeyLeavesNoBytes: after an erasure and the vacuum it asks for, no byte of the
// person's key remains. Found by the issue 13 review: the README said "no live or dead tuple
// holds the key their fields were sealed with". VACUUM removes the dead tuple's line pointer and
// compacts the page, but it does not overwrite the page's free space: the bytes of the tuple
// written last on a page (the lowest on it) stay in the relation file after the vacuum and a
// checkpoint. The contract suite's erasure case passes because the person it erases was written
// first, so the other person's tuple moves over it. Here the person erased is the newest.
func TestErasedNewestKeyLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	db, _ := openFresh(t, "review13_k_", Config{})
	keyTuple(t, db, "older")
	gone := keyTuple(t, db, "newest")
	if !keyFileHolds(t, db, gone) {
		t.Fatal("before the erasure the key's marker is not in the file: the test cannot see remnants")
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.DeleteDataKey(ctx, "newest") }); err != nil {
		t.Fatal(err)
	}
	if err := db.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	// What Purge asked the vacuumer for, run now rather than DataVacuumDelay later.
	if _, err := db.Vacuum(ctx, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if keyFileHolds(t, db, gone) {
		t.Errorf("after the key's deletion, Purge, a vacuum and a checkpoint, the wrapped key's bytes remain in %s.contact_keys's file (free space of the page is not overwritten)", db.keys)
	}
}
