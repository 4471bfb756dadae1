package postgres

import (
	"context"
	"database/sql"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// TestPurgeVacuumsDataSoon: every start vacuums once; Purge vacuums the key tables at once, and
// rewrites them and vacuums the data tables that hold personal rows DataVacuumDelay later;
// Purges in between share that one.
func TestPurgeVacuumsDataSoon(t *testing.T) {
	ctx := context.Background()
	const delay = 300 * time.Millisecond
	db, schema := openFresh(t, "tv_", Config{DataVacuumDelay: delay})
	admin := pgtest.Open(t)
	vacuums := func(s, table string) int64 {
		t.Helper()
		var n int64
		if err := admin.QueryRow("SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2", s, table).Scan(&n); err != nil {
			t.Fatalf("vacuum count of %s.%s: %v", s, table, err)
		}
		return n
	}
	tables := dataTables()
	last := tables[len(tables)-1] // vacuumed last
	// The statistics collector reports a vacuum after it ends; wait for it without asserting a
	// speed.
	waitVacuumed := func(what string, above int64) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); vacuums(schema, last) <= above; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s not vacuumed within a minute", what, last)
			}
			admin.Exec("SELECT pg_stat_clear_snapshot()")
		}
	}
	waitVacuumed("the vacuum every start runs", 0)
	keys0, data0, last0 := vacuums(schema+"_keys", "contact_keys"), vacuums(schema, "contacts"), vacuums(schema, last)
	start := time.Now()
	for range 3 {
		if err := db.Purge(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitVacuumed("after 3 Purges", last0)
	keys1, data1 := vacuums(schema+"_keys", "contact_keys"), vacuums(schema, "contacts")
	if keys1-keys0 != 3 {
		t.Errorf("key table vacuumed %d times for 3 Purges; want 3, each at once (the rewrite with the data tables is a VACUUM FULL, not counted)", keys1-keys0)
	}
	if data1-data0 != 1 {
		t.Errorf("contacts vacuumed %d times after 3 Purges; want once, after the delay", data1-data0)
	}
	if since := time.Since(start); since < delay {
		t.Errorf("contacts vacuumed %v after the first Purge; want no sooner than the delay %v", since, delay)
	}
	for _, table := range tables {
		if vacuums(schema, table) == 0 {
			t.Errorf("%s never vacuumed; want every data table with personal rows", table)
		}
	}
}

// TestVacuumWaitsForAnOlderWriter: a transaction that wrote and sits idle holds its transaction
// id but no snapshot (backend_xmin is NULL between READ COMMITTED statements), and PostgreSQL
// keeps every tuple deleted after it began until it ends; Vacuum counts it as older. It once did
// not, and the contract suite's erasure case found a wrapped key in contact_keys after Purge when
// another package's test held such a transaction.
func TestVacuumWaitsForAnOlderWriter(t *testing.T) {
	ctx := context.Background()
	db, _ := openFresh(t, "tw_", Config{})
	admin := pgtest.Open(t)
	scratch := randomName(t, "tw_scratch_")
	if _, err := admin.Exec("CREATE TABLE " + quoteIdent(scratch) + " (n int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + quoteIdent(scratch)) })
	writer, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback()
	if _, err := writer.Exec("INSERT INTO " + quoteIdent(scratch) + " VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // xact_start strictly before since
	m := keyTuple(t, db, "tw-gone")
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.DeleteDataKey(ctx, "tw-gone") }); err != nil {
		t.Fatal(err)
	}
	clear, err := db.Vacuum(ctx, time.Now(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if clear {
		t.Error("Vacuum reported nothing older open while a transaction that wrote before it was still open")
	}
	if err := writer.Rollback(); err != nil {
		t.Fatal(err)
	}
	if keyFileHolds(t, db, m) {
		t.Error("the deleted key's bytes remain after the older writer ended and Vacuum ran")
	}
}

// vacuumCount is pg_stat_user_tables.vacuum_count of schema.table (VACUUM FULL is not counted).
func vacuumCount(t *testing.T, admin *sql.DB, schema, table string) int64 {
	t.Helper()
	var n int64
	if err := admin.QueryRow("SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2", schema, table).Scan(&n); err != nil {
		t.Fatalf("vacuum count of %s.%s: %v", schema, table, err)
	}
	return n
}

// waitStartVacuum waits, without asserting a speed, until the vacuum every start runs has
// reached the data table vacuumed last (the statistics report a vacuum after it ends).
func waitStartVacuum(t *testing.T, admin *sql.DB, schema string) {
	t.Helper()
	tables := dataTables()
	for deadline := time.Now().Add(60 * time.Second); vacuumCount(t, admin, schema, tables[len(tables)-1]) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the vacuum every start runs did not end within a minute")
		}
	}
}

// TestDeadKeyOfADeadNodeIsVacuumed: an erasure's node that dies between the commit and its
// Purge, and never starts again, leaves the person's wrapped key as a dead tuple in
// contact_keys. The other nodes run on and started before the erasure, so the vacuum every
// start runs does not cover it: every node's vacuumer checks the key table's deletions
// (VacuumCheckInterval) and vacuums when some are new.
func TestDeadKeyOfADeadNodeIsVacuumed(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.Open(t)
	dead, schema := openFresh(t, "tk_", Config{})
	openSchemaNode(t, schema, Config{DataVacuumDelay: 100 * time.Millisecond, VacuumCheckInterval: 200 * time.Millisecond})
	waitStartVacuum(t, admin, schema) // the other node's, DataVacuumDelay after its start
	gone := keyTuple(t, dead, "erased")
	keyTuple(t, dead, "kept")
	if places := filesHoldingOn(t, admin, schema, gone); !slices.Contains(places, schema+"_keys.contact_keys") {
		t.Fatalf("before the erasure the key's marker is in %v, not in contact_keys: the test cannot see remnants", places)
	}
	if err := dead.Update(ctx, func(tx store.Tx) error { return tx.DeleteDataKey(ctx, "erased") }); err != nil {
		t.Fatal(err)
	}
	dead.Close() // killed before its Purge; Close vacuums nothing
	// The statistics report the deletion within seconds of its commit; wait without asserting
	// a speed.
	var places []string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if places = filesHoldingOn(t, admin, schema, gone); len(places) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(places) != 0 {
		t.Errorf("90 s after an erasure whose node died before its Purge, the erased person's wrapped key remains in %v: no running node vacuumed the key tables", places)
	}
}

// TestVacuumCheckIsQuietWithoutDeletions: the check of the key table's deletions vacuums
// nothing while no key was deleted; inserted keys and the audit anchor's updates, which every
// audited write makes, are not deletions of a person's key.
func TestVacuumCheckIsQuietWithoutDeletions(t *testing.T) {
	const interval = 200 * time.Millisecond
	admin := pgtest.Open(t)
	db, schema := openFresh(t, "tq_", Config{DataVacuumDelay: 100 * time.Millisecond, VacuumCheckInterval: interval})
	waitStartVacuum(t, admin, schema)
	keyTuple(t, db, "inserted")
	// The insertion's statistics arrive after its commit; wait for them, so that a check that
	// reacted to them would have run within the intervals below.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ins int64
		if err := admin.QueryRow("SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'contact_keys'", schema+"_keys").Scan(&ins); err != nil {
			t.Fatal(err)
		}
		if ins > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the insertion's statistics did not arrive within a minute")
		}
	}
	before := vacuumCount(t, admin, schema, "contacts")
	time.Sleep(10 * interval)
	if after := vacuumCount(t, admin, schema, "contacts"); after != before {
		t.Errorf("contacts vacuumed %d times in 10 check intervals without a deleted key; want 0", after-before)
	}
}

// TestVacuumWaitsForAnotherDatabasesWriter: a transaction of another database on the same
// server that began before the erasure and holds a transaction id counts as older: a snapshot
// taken in this database after the erasure starts at the oldest transaction id running
// anywhere, and VACUUM keeps what it may see. Vacuum counted this database's transactions only,
// and the contract suite's erasure case then found a deleted key's bytes in contact_keys while
// another package's test (in its own database) held a transaction.
func TestVacuumWaitsForAnotherDatabasesWriter(t *testing.T) {
	ctx := context.Background()
	db, _ := openFresh(t, "tx_", Config{DataVacuumDelay: time.Hour, VacuumCheckInterval: time.Hour})
	u, err := url.Parse(pgtest.Require(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres" // the server's own database: another database than the store's
	other, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	writer, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback()
	if _, err := writer.Exec("SELECT txid_current()"); err != nil { // takes a transaction id
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // xact_start strictly before since
	clear, err := db.Vacuum(ctx, time.Now(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if clear {
		t.Error("Vacuum reported nothing older open while another database's transaction that began before it held a transaction id")
	}
}
