package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// appliedVersions returns schema_migrations as version -> applied_at.
func appliedVersions(t *testing.T, ctx context.Context, db *sql.DB, data string) map[int]string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT version, applied_at FROM "+quoteIdent(data)+".schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]string{}
	for rows.Next() {
		var v int
		var at string
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[v]; dup {
			t.Errorf("version %d recorded twice", v)
		}
		got[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func wantAllApplied(t *testing.T, got map[int]string) {
	t.Helper()
	var vs []int
	for v := range got {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	if !reflect.DeepEqual(vs, Versions()) {
		t.Errorf("applied versions %v, want %v", vs, Versions())
	}
}

func countRows(t *testing.T, ctx context.Context, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()

	t.Run("twice", func(t *testing.T) {
		data, keys := freshSchemas(t)
		if err := Migrate(ctx, db, data, keys); err != nil {
			t.Fatal(err)
		}
		first := appliedVersions(t, ctx, db, data)
		wantAllApplied(t, first)
		// A row written between the two runs survives the second, which changes nothing.
		if _, err := db.ExecContext(ctx, "UPDATE "+quoteIdent(data)+".webhook_cursor SET seq = 42 WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "UPDATE "+quoteIdent(keys)+".commit_marker SET gen = 7 WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		if err := Migrate(ctx, db, data, keys); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if second := appliedVersions(t, ctx, db, data); !reflect.DeepEqual(first, second) {
			t.Errorf("second Migrate changed schema_migrations:\nbefore %v\nafter  %v", first, second)
		}
		if n := countRows(t, ctx, db, "SELECT seq FROM "+quoteIdent(data)+".webhook_cursor WHERE id = 1"); n != 42 {
			t.Errorf("webhook_cursor.seq = %d after the second Migrate, want 42", n)
		}
		if n := countRows(t, ctx, db, "SELECT gen FROM "+quoteIdent(keys)+".commit_marker WHERE id = 1"); n != 7 {
			t.Errorf("key commit_marker.gen = %d after the second Migrate, want 7", n)
		}
	})

	t.Run("concurrently", func(t *testing.T) {
		for round := 0; round < 3; round++ {
			data, keys := freshSchemas(t)
			const n = 3
			errs := make([]error, n)
			var start, done sync.WaitGroup
			start.Add(1)
			for i := 0; i < n; i++ {
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					errs[i] = Migrate(ctx, db, data, keys)
				}()
			}
			start.Done()
			done.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: Migrate %d: %v", round, i, err)
				}
			}
			wantAllApplied(t, appliedVersions(t, ctx, db, data))
			// Rows the migrations and markers insert exist once.
			for _, q := range []string{
				"SELECT count(*) FROM " + quoteIdent(data) + ".webhook_cursor",
				"SELECT count(*) FROM " + quoteIdent(data) + ".commit_marker",
				"SELECT count(*) FROM " + quoteIdent(keys) + ".commit_marker",
			} {
				if got := countRows(t, ctx, db, q); got != 1 {
					t.Errorf("round %d: %s = %d, want 1", round, q, got)
				}
			}
		}
	})
}

func TestKeySchemaNotReachableByOtherRoles(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	data, keys := freshSchemas(t)
	if err := Migrate(ctx, db, data, keys); err != nil {
		t.Fatal(err)
	}
	role := randomName(t, "tt_role_")
	if _, err := db.ExecContext(ctx, "CREATE ROLE "+quoteIdent(role)+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, q := range []string{"DROP OWNED BY " + quoteIdent(role), "DROP ROLE " + quoteIdent(role)} {
			if _, err := db.ExecContext(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	for _, q := range []string{
		"GRANT USAGE ON SCHEMA " + quoteIdent(data) + " TO " + quoteIdent(role),
		"GRANT SELECT ON ALL TABLES IN SCHEMA " + quoteIdent(data) + " TO " + quoteIdent(role),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// asRole runs query as the role, in a transaction that is rolled back.
	asRole := func(query string) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "SET LOCAL ROLE "+quoteIdent(role)); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		return rows.Err()
	}
	// The role reads the data schema (so a refusal below is the key schema's, not the setup's).
	if err := asRole("SELECT id FROM " + quoteIdent(data) + ".contacts"); err != nil {
		t.Fatalf("the role cannot read the data schema: %v", err)
	}
	for _, tbl := range []string{"contact_keys", "audit_anchor", "commit_marker"} {
		err := asRole("SELECT * FROM " + quoteIdent(keys) + "." + tbl)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege
			t.Errorf("role with USAGE on the data schema reading %s.%s: err %v, want insufficient_privilege", keys, tbl, err)
		}
	}
	var usage, public bool
	if err := db.QueryRowContext(ctx, "SELECT has_schema_privilege($1, $2, 'USAGE'), EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $2 AND a.grantee = 0)", role, keys).Scan(&usage, &public); err != nil {
		t.Fatal(err)
	}
	if usage || public {
		t.Errorf("key schema %s: USAGE for the role %v, privileges granted to PUBLIC %v; want neither", keys, usage, public)
	}
}

// sqliteMigration returns the bodies of SQLite's migrations, by version.
func sqliteMigrations(t *testing.T) map[int]string {
	t.Helper()
	dir := filepath.Join("..", "sqlite", "migrations")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range entries {
		var v int
		if _, err := fmt.Sscanf(e.Name(), "%04d_", &v); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[v] = string(b)
	}
	return out
}

// dollarParams rewrites ? placeholders as $1, $2, … (the seeds below have no ? in literals).
func dollarParams(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestDataMigrationsMatchSQLite seeds rows between migrations on both databases and compares
// what the migrations that rewrite data (0002, 0018, 0020, 0021, 0025, 0026) leave.
func TestDataMigrationsMatchSQLite(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	data, keys := freshSchemas(t)

	dir := t.TempDir()
	lite, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	lite.SetMaxOpenConns(1)
	if _, err := lite.ExecContext(ctx, "ATTACH DATABASE '"+filepath.Join(dir, "keys.db")+"' AS keystore"); err != nil {
		t.Fatal(err)
	}
	liteBodies := sqliteMigrations(t)

	h := func(b ...byte) []byte { return b }
	const (
		t0 = "2024-01-01T00:00:00.000000000Z"
		t1 = "2024-02-01T00:00:00.000000000Z"
		t2 = "2024-03-01T00:00:00.000000000Z"
		t3 = "2024-04-01T00:00:00.000000000Z"
	)
	type stmt struct {
		q    string
		args []any
	}
	steps := []struct {
		after int // the seeds run once this version is applied
		stmts []stmt
	}{
		{1, []stmt{
			{"INSERT INTO audit_events (seq, at, actor_kind, actor_id, actor_role, action, object_kind, object_id, fields, request_id, purpose, prev_hash, hash) VALUES (?, ?, 'system', '', '', 'a', 'k', 'o', '', '', '', ?, ?)", []any{1, t0, h(0), h(1, 1)}},
			{"INSERT INTO audit_events (seq, at, actor_kind, actor_id, actor_role, action, object_kind, object_id, fields, request_id, purpose, prev_hash, hash) VALUES (?, ?, 'system', '', '', 'a', 'k', 'o', '', '', '', ?, ?)", []any{2, t1, h(1, 1), h(2, 2)}},
			{"INSERT INTO purposes (id, name, description, lawful_basis, retention_days, double_opt_in, created_at) VALUES ('newsletter', 'n', 'd', 'consent', 0, 1, ?)", []any{t0}},
			{"INSERT INTO purposes (id, name, description, lawful_basis, retention_days, double_opt_in, created_at) VALUES ('other', 'n', 'd', 'consent', 0, 0, ?)", []any{t0}},
		}},
		{17, []stmt{
			{"INSERT INTO requests (id, type, state, channel, received_at, due_at, key_version, updated_at, version) VALUES ('r1', 'access', 'open', 'api', ?, ?, 1, ?, 1)", []any{t0, t1, t0}},
			{"INSERT INTO requests (id, type, state, channel, received_at, due_at, key_version, updated_at, version) VALUES ('r2', 'erasure', 'done', 'api', ?, ?, 1, ?, 1)", []any{t0, t1, t0}},
			{"INSERT INTO keystore.contact_keys (contact_id, version, wrapped, created_at) VALUES ('r1', 1, ?, ?)", []any{h(9), t0}},
		}},
		{19, []stmt{
			{"INSERT INTO campaigns (id, kind, purpose_id, subject, text_body, html_body, audience, created_at, queued_at) VALUES ('c1', 'marketing', 'newsletter', 's', 't', 'h', '{}', ?, ?)", []any{t0, t1}},
			{"INSERT INTO campaigns (id, kind, purpose_id, subject, text_body, html_body, audience, created_at) VALUES ('c2', 'marketing', 'newsletter', 's', 't', 'h', '{}', ?)", []any{t0}},
		}},
		{20, []stmt{
			// Erased at t1: two hashes (in an order other than the hashes'), and one of the same
			// time with another reason, which 0021 leaves out.
			{"INSERT INTO suppressions (hash, reason, created_at) VALUES (?, 'erased', ?)", []any{h(0xbb, 0x01), t1}},
			{"INSERT INTO suppressions (hash, reason, created_at) VALUES (?, 'erased', ?)", []any{h(0x0a, 0xff), t1}},
			{"INSERT INTO suppressions (hash, reason, created_at) VALUES (?, 'bounced', ?)", []any{h(0x33), t1}},
			{"INSERT INTO erasure_ledger (contact_id, erased_at) VALUES ('e1', ?)", []any{t1}},
			{"INSERT INTO erasure_ledger (contact_id, erased_at) VALUES ('e0', ?)", []any{t0}}, // no hashes: '[]'
		}},
		{24, []stmt{
			// 0025: h(0x44) bounced at t0, erased at t2 (named by e2): becomes erased at t2; h(0x55)
			// bounced at t3, after e2's erasure: keeps its reason; h(0x33) bounced at t1, named by
			// e2 and e3 (t3): erased at the later one.
			{"INSERT INTO suppressions (hash, reason, created_at) VALUES (?, 'bounced', ?)", []any{h(0x44), t0}},
			{"INSERT INTO suppressions (hash, reason, created_at) VALUES (?, 'complained', ?)", []any{h(0x55), t3}},
			{`INSERT INTO erasure_ledger (contact_id, erased_at, suppression_hashes) VALUES ('e2', ?, '["44","55","33"]')`, []any{t2}},
			{`INSERT INTO erasure_ledger (contact_id, erased_at, suppression_hashes) VALUES ('e3', ?, '["33"]')`, []any{t3}},
			{"INSERT INTO purpose_unsubscribes (hash, purpose_id, at) VALUES (?, 'other', ?)", []any{h(0x44), t0}},
		}},
	}

	applied := 0
	run := func(upto int) {
		t.Helper()
		for v := applied + 1; v <= upto; v++ {
			body, ok := liteBodies[v]
			if !ok {
				t.Fatalf("sqlite migration %d missing", v)
			}
			if _, err := lite.ExecContext(ctx, body); err != nil {
				t.Fatalf("sqlite migration %d: %v", v, err)
			}
		}
		if err := migrate(ctx, db, data, keys, upto); err != nil {
			t.Fatal(err)
		}
		applied = upto
	}
	for _, st := range steps {
		run(st.after)
		for _, s := range st.stmts {
			if _, err := lite.ExecContext(ctx, s.q, s.args...); err != nil {
				t.Fatalf("sqlite: %s: %v", s.q, err)
			}
			pgExec(t, ctx, db, data, keys, dollarParams(s.q), s.args...)
		}
	}
	run(len(liteBodies))

	queries := []string{
		"SELECT id, seq, hex(hash) FROM keystore.audit_anchor",
		"SELECT id, key_destroyed FROM requests ORDER BY id",
		"SELECT id, coalesce(finished_at, 'NULL') FROM campaigns ORDER BY id",
		"SELECT contact_id, erased_at, suppression_hashes FROM erasure_ledger ORDER BY contact_id",
		"SELECT hex(hash), reason, created_at FROM suppressions ORDER BY hash",
		"SELECT id, direct_marketing FROM purposes ORDER BY id",
	}
	for _, q := range queries {
		want := readRows(t, ctx, lite, q)
		pq := strings.ReplaceAll(q, "hex(hash)", "upper(encode(hash, 'hex'))")
		got := pgRead(t, ctx, db, data, keys, pq)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s:\nsqlite:   %q\npostgres: %q", q, want, got)
		}
		if len(want) == 0 {
			t.Errorf("%s: no rows: the seeds did not take", q)
		}
	}
	// The migrations' own time, in SQLite's strftime form, on every row that existed before.
	recorded := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000000Z$`)
	for _, tbl := range []string{"suppressions", "purpose_unsubscribes"} {
		q := "SELECT recorded_at FROM " + tbl
		for name, rows := range map[string][][]string{"sqlite": readRows(t, ctx, lite, q), "postgres": pgRead(t, ctx, db, data, keys, q)} {
			if len(rows) == 0 {
				t.Errorf("%s %s: no rows", name, tbl)
			}
			for _, r := range rows {
				if !recorded.MatchString(r[0]) {
					t.Errorf("%s %s.recorded_at = %q, want %s", name, tbl, r[0], recorded)
				}
			}
		}
	}
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readRows returns every row of query as strings (NULL as "").
func readRows(t *testing.T, ctx context.Context, d queryer, query string) [][]string {
	t.Helper()
	rows, err := d.QueryContext(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pgTx runs f in a PostgreSQL transaction whose search_path is the data schema, with query's
// "keystore." prefixes replaced by the key schema, and commits it.
func pgTx(t *testing.T, ctx context.Context, db *sql.DB, data, keys, query string, f func(*sql.Tx, string)) {
	t.Helper()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET LOCAL search_path TO "+quoteIdent(data)); err != nil {
		t.Fatal(err)
	}
	f(tx, keystorePrefix.ReplaceAllLiteralString(query, quoteIdent(keys)+"."))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func pgExec(t *testing.T, ctx context.Context, db *sql.DB, data, keys, query string, args ...any) {
	t.Helper()
	pgTx(t, ctx, db, data, keys, query, func(tx *sql.Tx, q string) {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("postgres: %s: %v", q, err)
		}
	})
}

func pgRead(t *testing.T, ctx context.Context, db *sql.DB, data, keys, query string) (out [][]string) {
	t.Helper()
	pgTx(t, ctx, db, data, keys, query, func(tx *sql.Tx, q string) { out = readRows(t, ctx, tx, q) })
	return out
}
