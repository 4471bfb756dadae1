package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver" // "sqlite3", to read the SQLite store's schema

	"github.com/tillit/tillit/internal/store/sqlite"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// The shapes of both schemas, read from each database's catalog and compared in SQLite's terms.
type column struct {
	name      string
	typ       string // SQLite's declared type (STRICT tables: INTEGER, TEXT, BLOB, REAL); PostgreSQL's data_type
	notNull   bool
	dflt      string // the default's text, "" for none (PostgreSQL casts stripped)
	identity  bool   // PostgreSQL: GENERATED ... AS IDENTITY; SQLite: a rowid alias (INTEGER PRIMARY KEY)
	collation string // PostgreSQL only
}

type index struct {
	unique  bool
	cols    string // comma-separated, in key order
	partial bool
}

type table struct {
	cols    []column
	pk      string           // primary key columns, comma-separated, in key order
	uniques []string         // UNIQUE constraints' columns, sorted
	indexes map[string]index // indexes made by CREATE INDEX, by name
	fks     []string         // "cols -> table(cols) ON DELETE action", sorted
	checks  int              // CHECK constraints
}

var checkRE = regexp.MustCompile(`(?i)\bCHECK\s*\(`)

// sqliteSchema reads the tables of one attached schema ("main" or "keystore") of the SQLite store.
func sqliteSchema(t *testing.T, ctx context.Context, db *sql.DB, schema string) map[string]*table {
	t.Helper()
	q := func(query string, args ...any) *sql.Rows {
		t.Helper()
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("sqlite %s: %s: %v", schema, query, err)
		}
		return rows
	}
	tables := map[string]*table{}
	type rawTable struct{ name, ddl string }
	var raws []rawTable
	rows := q(`SELECT name, sql FROM ` + schema + `.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	for rows.Next() {
		var r rawTable
		if err := rows.Scan(&r.name, &r.ddl); err != nil {
			t.Fatal(err)
		}
		raws = append(raws, r)
	}
	rows.Close()
	for _, r := range raws {
		tb := &table{indexes: map[string]index{}, checks: len(checkRE.FindAllString(r.ddl, -1))}
		withoutRowid := regexp.MustCompile(`(?i)WITHOUT\s+ROWID`).MatchString(r.ddl)
		rows := q(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?, ?) ORDER BY cid`, r.name, schema)
		pk := map[int]string{}
		for rows.Next() {
			var c column
			var dflt sql.NullString
			var notNull, pkPos int
			if err := rows.Scan(&c.name, &c.typ, &notNull, &dflt, &pkPos); err != nil {
				t.Fatal(err)
			}
			c.notNull = notNull == 1 || pkPos > 0 // key columns are NOT NULL in STRICT and WITHOUT ROWID tables
			c.dflt = dflt.String
			if pkPos > 0 {
				pk[pkPos] = c.name
			}
			tb.cols = append(tb.cols, c)
		}
		rows.Close()
		for i := 1; i <= len(pk); i++ {
			tb.pk += "," + pk[i]
		}
		tb.pk = strings.TrimPrefix(tb.pk, ",")
		if len(pk) == 1 && !withoutRowid {
			for i := range tb.cols {
				if tb.cols[i].name == pk[1] && strings.EqualFold(tb.cols[i].typ, "INTEGER") {
					tb.cols[i].identity = true // a rowid alias: SQLite assigns it when an insert leaves it out
				}
			}
		}

		type rawIndex struct {
			name, origin    string
			unique, partial bool
		}
		var idx []rawIndex
		rows = q(`SELECT name, "unique", origin, partial FROM pragma_index_list(?, ?)`, r.name, schema)
		for rows.Next() {
			var ri rawIndex
			if err := rows.Scan(&ri.name, &ri.unique, &ri.origin, &ri.partial); err != nil {
				t.Fatal(err)
			}
			idx = append(idx, ri)
		}
		rows.Close()
		for _, ri := range idx {
			var cols []string
			rows := q(`SELECT name FROM pragma_index_info(?, ?) ORDER BY seqno`, ri.name, schema)
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					t.Fatal(err)
				}
				cols = append(cols, c)
			}
			rows.Close()
			switch ri.origin {
			case "c":
				tb.indexes[ri.name] = index{unique: ri.unique, cols: strings.Join(cols, ","), partial: ri.partial}
			case "u":
				tb.uniques = append(tb.uniques, strings.Join(cols, ","))
			case "pk": // read from table_info
			default:
				t.Fatalf("sqlite %s.%s: index %s of unknown origin %q", schema, r.name, ri.name, ri.origin)
			}
		}
		sort.Strings(tb.uniques)

		rows = q(`SELECT id, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?, ?) ORDER BY id, seq`, r.name, schema)
		type fkRaw struct {
			from, to        []string
			table, onDelete string
		}
		fks := map[int]*fkRaw{}
		for rows.Next() {
			var id int
			var ref, from, onDelete string
			var to sql.NullString
			if err := rows.Scan(&id, &ref, &from, &to, &onDelete); err != nil {
				t.Fatal(err)
			}
			f := fks[id]
			if f == nil {
				f = &fkRaw{table: ref, onDelete: onDelete}
				fks[id] = f
			}
			f.from = append(f.from, from)
			f.to = append(f.to, to.String)
		}
		rows.Close()
		for _, f := range fks {
			tb.fks = append(tb.fks, fmt.Sprintf("%s -> %s(%s) ON DELETE %s", strings.Join(f.from, ","), f.table, strings.Join(f.to, ","), f.onDelete))
		}
		sort.Strings(tb.fks)
		tables[r.name] = tb
	}
	return tables
}

var castRE = regexp.MustCompile(`::[a-z ]+$`)

// postgresSchema reads the tables of one schema of the PostgreSQL database.
func postgresSchema(t *testing.T, ctx context.Context, db *sql.DB, schema string) map[string]*table {
	t.Helper()
	q := func(query string, args ...any) *sql.Rows {
		t.Helper()
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("postgres %s: %v\n%s", schema, err, query)
		}
		return rows
	}
	tables := map[string]*table{}
	var names []string
	rows := q(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, schema)
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	for _, name := range names {
		tb := &table{indexes: map[string]index{}}
		rows := q(`SELECT column_name, data_type, is_nullable = 'NO', coalesce(column_default, ''), is_identity = 'YES', coalesce(collation_name, '')
FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, name)
		for rows.Next() {
			var c column
			if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.dflt, &c.identity, &c.collation); err != nil {
				t.Fatal(err)
			}
			c.dflt = castRE.ReplaceAllString(c.dflt, "")
			tb.cols = append(tb.cols, c)
		}
		rows.Close()

		rows = q(`SELECT con.conname, con.contype::text,
    array_to_string(ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k (n, o)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), ','),
    coalesce(fn.nspname, ''), coalesce(fc.relname, ''),
    array_to_string(ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k (n, o)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o), ','),
    con.confdeltype::text
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`, schema, name)
		for rows.Next() {
			var conname, contype, cols, refSchema, ref, refCols, delType string
			if err := rows.Scan(&conname, &contype, &cols, &refSchema, &ref, &refCols, &delType); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(conname, name+"_") {
				t.Errorf("postgres %s.%s: constraint %s is not named after its table (left from a rebuild?)", schema, name, conname)
			}
			switch contype {
			case "p":
				tb.pk = cols
			case "u":
				tb.uniques = append(tb.uniques, cols)
			case "c":
				tb.checks++
			case "f":
				if refSchema != schema {
					t.Errorf("postgres %s.%s: foreign key %s references schema %s", schema, name, conname, refSchema)
				}
				action := map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}[delType]
				tb.fks = append(tb.fks, fmt.Sprintf("%s -> %s(%s) ON DELETE %s", cols, ref, refCols, action))
			default:
				t.Errorf("postgres %s.%s: constraint %s of unexpected type %s", schema, name, conname, contype)
			}
		}
		rows.Close()
		sort.Strings(tb.uniques)
		sort.Strings(tb.fks)

		rows = q(`SELECT ic.relname, i.indisunique, i.indpred IS NOT NULL,
    array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k (n, o)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), ',')
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))`, schema, name)
		for rows.Next() {
			var n string
			var ix index
			if err := rows.Scan(&n, &ix.unique, &ix.partial, &ix.cols); err != nil {
				t.Fatal(err)
			}
			tb.indexes[n] = ix
		}
		rows.Close()
		tables[name] = tb
	}
	return tables
}

// pgType is the PostgreSQL type a SQLite STRICT column type is stored as.
var pgType = map[string]string{"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}

// identityColumns are the rowid aliases the SQLite code leaves out of its inserts (consent.go,
// bulk.go insChanges, requests.go, imports.go): PostgreSQL must assign them. The other rowid
// aliases (audit_events.seq, the single-row tables' id, schema_migrations.version) are written
// by the code and stay plain keys.
var identityColumns = map[string]bool{
	"consent_events.seq":  true,
	"consent_changes.seq": true,
	"request_events.seq":  true,
	"imports.no":          true,
}

// compareSchemas reports every difference between a SQLite schema and its PostgreSQL translation.
func compareSchemas(t *testing.T, label string, lite, pg map[string]*table) {
	t.Helper()
	var liteNames, pgNames []string
	for n := range lite {
		liteNames = append(liteNames, n)
	}
	for n := range pg {
		pgNames = append(pgNames, n)
	}
	sort.Strings(liteNames)
	sort.Strings(pgNames)
	if !reflect.DeepEqual(liteNames, pgNames) {
		t.Errorf("%s: tables differ:\nsqlite:   %v\npostgres: %v", label, liteNames, pgNames)
	}
	for _, name := range liteNames {
		l, p := lite[name], pg[name]
		if p == nil {
			continue
		}
		where := label + "." + name
		for i := 0; i < len(l.cols) || i < len(p.cols); i++ {
			if i >= len(l.cols) {
				t.Errorf("%s: column %d %s only in postgres", where, i+1, p.cols[i].name)
				continue
			}
			lc := l.cols[i]
			if i >= len(p.cols) {
				t.Errorf("%s: column %d %s missing in postgres", where, i+1, lc.name)
				continue
			}
			pc := p.cols[i]
			if lc.name != pc.name {
				t.Errorf("%s: column %d is %s in sqlite, %s in postgres", where, i+1, lc.name, pc.name)
				continue
			}
			col := where + "." + lc.name
			if want, ok := pgType[strings.ToUpper(lc.typ)]; !ok || pc.typ != want {
				t.Errorf("%s: sqlite type %s, postgres type %s (want %s)", col, lc.typ, pc.typ, want)
			}
			if pc.typ == "text" && pc.collation != "C" {
				t.Errorf("%s: collation %q, want \"C\" (bytewise, as SQLite's BINARY)", col, pc.collation)
			}
			if lc.notNull != pc.notNull {
				t.Errorf("%s: NOT NULL is %v in sqlite, %v in postgres", col, lc.notNull, pc.notNull)
			}
			if lc.dflt != pc.dflt {
				t.Errorf("%s: default %q in sqlite, %q in postgres", col, lc.dflt, pc.dflt)
			}
			if pc.identity && !lc.identity {
				t.Errorf("%s: an identity column in postgres, not a rowid alias in sqlite", col)
			}
			if pc.identity != identityColumns[name+"."+lc.name] {
				t.Errorf("%s: identity is %v in postgres, want %v", col, pc.identity, identityColumns[name+"."+lc.name])
			}
		}
		if l.pk != p.pk {
			t.Errorf("%s: primary key (%s) in sqlite, (%s) in postgres", where, l.pk, p.pk)
		}
		if !reflect.DeepEqual(l.uniques, p.uniques) {
			t.Errorf("%s: UNIQUE constraints %q in sqlite, %q in postgres", where, l.uniques, p.uniques)
		}
		if !reflect.DeepEqual(l.fks, p.fks) {
			t.Errorf("%s: foreign keys differ:\nsqlite:   %q\npostgres: %q", where, l.fks, p.fks)
		}
		if l.checks != p.checks {
			t.Errorf("%s: %d CHECK constraints in sqlite, %d in postgres", where, l.checks, p.checks)
		}
		for n, li := range l.indexes {
			pi, ok := p.indexes[n]
			switch {
			case !ok:
				t.Errorf("%s: index %s missing in postgres", where, n)
			case li != pi:
				t.Errorf("%s: index %s is %+v in sqlite, %+v in postgres", where, n, li, pi)
			}
		}
		for n := range p.indexes {
			if _, ok := l.indexes[n]; !ok {
				t.Errorf("%s: index %s only in postgres", where, n)
			}
		}
	}
}

func TestSchemaMatchesSQLite(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()

	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	lite, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DataFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	lite.SetMaxOpenConns(1) // the attached key store belongs to the connection
	if _, err := lite.ExecContext(ctx, "ATTACH DATABASE 'file:"+filepath.Join(dir, sqlite.KeysFile)+"?mode=ro' AS keystore"); err != nil {
		t.Fatal(err)
	}
	liteMain := sqliteSchema(t, ctx, lite, "main")
	liteKeys := sqliteSchema(t, ctx, lite, "keystore")
	if len(liteMain) < 30 || liteKeys["contact_keys"] == nil || liteKeys["audit_anchor"] == nil || liteKeys["commit_marker"] == nil {
		t.Fatalf("sqlite schema not read: %d data tables, key tables %v", len(liteMain), liteKeys)
	}

	data, keys := freshSchemas(t)
	if err := Migrate(ctx, db, data, keys); err != nil {
		t.Fatal(err)
	}
	compareSchemas(t, "data", liteMain, postgresSchema(t, ctx, db, data))
	compareSchemas(t, "keystore", liteKeys, postgresSchema(t, ctx, db, keys))
}

func TestVersionsMatchSQLite(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "sqlite", "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	var liteNames []string
	var liteVersions []int
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("sqlite migration %s: no number", e.Name())
		}
		liteNames = append(liteNames, e.Name())
		liteVersions = append(liteVersions, v)
	}
	sort.Ints(liteVersions)
	sort.Strings(liteNames)
	if got := Versions(); !reflect.DeepEqual(got, liteVersions) {
		t.Errorf("Versions() = %v, sqlite migrations are %v", got, liteVersions)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	if !reflect.DeepEqual(names, liteNames) {
		t.Errorf("migration files differ:\npostgres: %v\nsqlite:   %v", names, liteNames)
	}
}
