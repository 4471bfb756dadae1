// Package pgtest gives each test process a database of its own on the PostgreSQL server of
// TILLIT_TEST_POSTGRES_URL, and fresh schemas in it. Every test that reaches PostgreSQL goes
// through it: the store's own tests, the contract suite, testdb (the whole suite on PostgreSQL)
// and the commands' tests.
//
// Invariants:
//   - go test runs packages in parallel, one process each. A process never uses the URL's
//     database itself but URL's own: the URL's database name + "_" + the last element of the
//     test binary's package path ("test" and internal/store/postgres: "test_postgres"), created
//     through the server's postgres database on first use. A long transaction in one package's
//     test therefore never holds back a vacuum of another's, nor makes the store's wait for
//     older transactions of its database (postgres.DB.Vacuum) wait for it.
//   - Two processes that create the same database at once both go on (the loser's
//     duplicate_database is not a failure).
//   - A schema FreshSchema made is dropped, with its _keys twin, when the test that asked ends.
//   - It depends on no package of Tillit, so the store's own tests may import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// URLEnv names the PostgreSQL server (and the stem of the databases) the tests run on, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const URLEnv = "TILLIT_TEST_POSTGRES_URL"

// maxIdent is the longest identifier PostgreSQL keeps (NAMEDATALEN - 1), in bytes.
const maxIdent = 63

// URL returns TILLIT_TEST_POSTGRES_URL with its database replaced by this process's own
// (DatabaseName), created when missing; "" when the variable is unset. A URL that is not
// postgres:// or names no database, or a server that cannot be reached, fails the test.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(URLEnv)
	if base == "" {
		return ""
	}
	mu.Lock()
	defer mu.Unlock()
	if u, ok := ensured[base]; ok {
		return u
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s: want a postgres:// URL", URLEnv)
	}
	stem := strings.TrimPrefix(u.Path, "/")
	if stem == "" {
		t.Fatalf("%s: want a database in the URL's path (e.g. …:5432/test)", URLEnv)
	}
	name := DatabaseName(stem, binaryName())
	admin := *u
	admin.Path, admin.RawPath = "/postgres", ""
	if err := createDatabase(admin.String(), name); err != nil {
		t.Fatalf("%s: database %s: %v", URLEnv, name, err)
	}
	own := *u
	own.Path, own.RawPath = "/"+name, ""
	ensured[base] = own.String()
	return ensured[base]
}

// Require returns URL, skipping the test, saying so, when TILLIT_TEST_POSTGRES_URL is unset.
func Require(t testing.TB) string {
	t.Helper()
	u := URL(t)
	if u == "" {
		t.Skipf("%s is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): this test needs PostgreSQL", URLEnv)
	}
	return u
}

// Open returns a connection pool on Require's database, which answered a ping, closed when
// the test ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", Require(t))
	if err != nil {
		t.Fatalf("%s: %v", URLEnv, err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s is set but the server cannot be reached: %v", URLEnv, err)
	}
	return db
}

// FreshSchema returns a new schema name (prefix + 12 random hex digits) and Require's URL with
// schema= that name, as a store's URL; the schema and its _keys twin, with everything in them,
// are dropped when the test ends. Nothing is created: the store opened on the URL does that.
func FreshSchema(t testing.TB, prefix string) (schema, rawURL string) {
	t.Helper()
	base := Require(t)
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema = prefix + hex.EncodeToString(b)
	t.Cleanup(func() { DropSchemas(t, base, schema, schema+"_keys") })
	return schema, WithSchema(t, base, schema)
}

// WithSchema returns rawURL with its schema parameter set to schema, as the last parameter (a
// URL printed for a person to copy ends in its schema).
func WithSchema(t testing.TB, rawURL, schema string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("%s: %v", URLEnv, err)
	}
	q := u.Query()
	q.Del("schema")
	u.RawQuery = q.Encode()
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "schema=" + url.QueryEscape(schema)
	return u.String()
}

// SchemaOf returns the schema parameter of rawURL, "" when it has none or does not parse.
func SchemaOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("schema")
}

// DropSchemas drops each schema with everything in it (IF EXISTS) on the database of rawURL;
// a failure is an error of the test. Every vacuumEvery drops of this process, the system
// catalogs the drops wrote are vacuumed.
func DropSchemas(t testing.TB, rawURL string, schemas ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		t.Errorf("pgtest: drop %v: %v", schemas, err)
		return
	}
	defer db.Close()
	for _, s := range schemas {
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+strings.ReplaceAll(s, `"`, `""`)+`" CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", s, err)
		}
	}
	if drops.Add(1)%vacuumEvery == 0 {
		if _, err := db.ExecContext(ctx, "VACUUM "+strings.Join(catalogs, ", ")); err != nil {
			t.Errorf("pgtest: vacuum the catalogs: %v", err)
		}
	}
}

// DatabaseName returns the database of a test binary named binary (its package's last path
// element, as "postgres" or "postgres.test") on a server whose URL names the database stem:
// stem + "_" + binary without ".test", its letters lowered and every byte outside [a-z0-9_]
// made "_". A name longer than PostgreSQL keeps (63 bytes) is cut and ends in a hash of the
// whole, so that two long names stay distinct.
func DatabaseName(stem, binary string) string {
	binary = strings.TrimSuffix(strings.TrimSuffix(binary, ".exe"), ".test")
	var b strings.Builder
	for _, c := range []byte(strings.ToLower(binary)) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	name := stem + "_" + b.String()
	if len(name) <= maxIdent {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	tag := "_" + hex.EncodeToString(sum[:4])
	cut := name[:maxIdent-len(tag)]
	for !utf8.ValidString(cut) { // the stem may hold a character of several bytes
		cut = cut[:len(cut)-1]
	}
	return cut + tag
}

// binaryName returns the last element of the test binary's package path (from the build
// information, "…/internal/store/postgres.test"), or else of os.Args[0].
func binaryName() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		return bi.Path[strings.LastIndex(bi.Path, "/")+1:]
	}
	return filepath.Base(os.Args[0])
}

// createDatabase creates name through adminURL (the server's postgres database) unless it
// exists. Another process that creates it first is no failure.
func createDatabase(adminURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, `""`)+`"`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == duplicateDatabase || (pgErr.Code == uniqueViolation && pgErr.ConstraintName == "pg_database_datname_index")) {
		return nil // another process made it between the look and the create
	}
	return err
}

// SQLSTATEs of a CREATE DATABASE that another process's won: the name taken (duplicate_database),
// or both inserts into pg_database racing (unique_violation on its name's index).
const (
	duplicateDatabase = "42P04"
	uniqueViolation   = "23505"
)

var (
	mu      sync.Mutex
	ensured = map[string]string{} // TILLIT_TEST_POSTGRES_URL → this process's database URL
	drops   atomic.Int64          // the schemas this process dropped (DropSchemas)
)

// vacuumEvery is how many drops of schemas go between two vacuums of the system catalogs. Each
// store creates and drops about a hundred relations; where autovacuum is off (as on the CI
// machines) their dead catalog rows are never removed otherwise, and every later CREATE, DROP and
// REVOKE of the suite reads through them (on one machine, four times slower after a few thousand stores).
const vacuumEvery = 32

// catalogs are the system catalogs creating and dropping a store's schemas writes.
var catalogs = []string{"pg_catalog.pg_class", "pg_catalog.pg_attribute", "pg_catalog.pg_type", "pg_catalog.pg_depend",
	"pg_catalog.pg_index", "pg_catalog.pg_constraint", "pg_catalog.pg_attrdef", "pg_catalog.pg_namespace", "pg_catalog.pg_sequence"}
