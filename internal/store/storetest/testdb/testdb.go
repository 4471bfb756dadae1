// Package testdb decides which store the tests outside internal/store run on, so that the whole
// suite runs on SQLite and again on PostgreSQL (CI runs both). TILLIT_TEST_STORE unset or
// "sqlite": the embedded SQLite store in the test's data directory, as tillit runs by default.
// "postgres": the PostgreSQL server of TILLIT_TEST_POSTGRES_URL, which is then required (a test
// fails without it rather than skip), in a schema of the data directory's own, in the test
// process's own database on that server (pgtest.URL).
//
// Invariants:
//   - A data directory names one store: URL gives the same schema for the same directory (a
//     restart, a restore, another command on the directory) and distinct schemas for distinct
//     directories. The schema (and its _keys twin) is dropped when the test that first asked
//     for it ends, after the stores the test opened later were closed (t.Cleanup runs last in,
//     first out).
//   - Nothing here names a backend type: the stores are opened by store.Open, through the URL.
//     SQL and Decrypted reach SQLite's files beside the store through package sqlite's
//     functions (OpenFiles, Plaintext), under the data directory's disk keys.
package testdb

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"       // the "pgx" database/sql driver (SQL, Files, dropping schemas)
	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" database/sql driver (SQL)

	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/postgres" // TILLIT_TEST_STORE=postgres
	"github.com/tillit/tillit/internal/store/sqlite"   // the default
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// Environment variables read.
const (
	StoreEnv       = "TILLIT_TEST_STORE" // "", "sqlite" or "postgres"
	PostgresURLEnv = pgtest.URLEnv       // postgres://…, required when StoreEnv is postgres
)

// Postgres reports whether the tests run on PostgreSQL. A TILLIT_TEST_STORE other than "",
// "sqlite" and "postgres", or postgres without TILLIT_TEST_POSTGRES_URL, fails the test.
func Postgres(t testing.TB) bool {
	t.Helper()
	switch v := os.Getenv(StoreEnv); v {
	case "", "sqlite":
		return false
	case "postgres":
		if os.Getenv(PostgresURLEnv) == "" {
			t.Fatalf("%s=postgres needs %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", StoreEnv, PostgresURLEnv)
		}
		return true
	default:
		t.Fatalf("%s=%q: want sqlite or postgres", StoreEnv, v)
		return false
	}
}

// GenerationLag is the bound within which the store the tests run on sees another process's
// commit: store.GenerationLag on SQLite, postgres.GenerationTTL on PostgreSQL (a notification
// usually arrives sooner).
func GenerationLag(t testing.TB) time.Duration {
	if Postgres(t) {
		return postgres.GenerationTTL
	}
	return store.GenerationLag
}

// RequireSQLite skips the test on PostgreSQL, saying why: it is about SQLite's files (a crash
// between the commits of two files, a directory named oddly), which a PostgreSQL store does not
// have, or about what the PostgreSQL store does not do yet (several processes on one database).
func RequireSQLite(t testing.TB, why string) {
	t.Helper()
	if Postgres(t) {
		t.Skipf("SQLite only (%s=postgres): %s", StoreEnv, why)
	}
}

// URL returns the store URL of the data directory dir for store.Open: "sqlite:" + dir, or on
// PostgreSQL DatabaseURL's.
func URL(t testing.TB, dir string) string {
	t.Helper()
	if u := DatabaseURL(t, dir); u != "" {
		return u
	}
	return "sqlite:" + dir
}

// DatabaseURL returns what --database-url (config.Config.DatabaseURL) is for the data directory
// dir: "" on SQLite (the store is the directory's files); on PostgreSQL, the test process's
// database (pgtest.URL) with schema=d_<hash of dir's absolute path>, dropped when the test that
// first asked ends.
func DatabaseURL(t testing.TB, dir string) string {
	t.Helper()
	if !Postgres(t) {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(filepath.Clean(abs)))
	schema := "d_" + hex.EncodeToString(sum[:12])
	base := pgtest.URL(t)
	if _, loaded := owned.LoadOrStore(schema, true); !loaded {
		t.Cleanup(func() {
			defer owned.Delete(schema)
			pgtest.DropSchemas(t, base, schema, schema+"_keys")
		})
	}
	return pgtest.WithSchema(t, base, schema)
}

// Parts returns the paths of the files dir's store keeps in dir (store.Parts): the database and
// the key store on SQLite, none on PostgreSQL.
func Parts(t testing.TB, dir string) []string {
	t.Helper()
	parts, err := store.Parts(URL(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range parts {
		out = append(out, p.Path)
	}
	return out
}

// SQL opens dir's store as its tables, beside the program and not through it, as someone with
// access to the database (and, for encrypted SQLite files, their key: DiskKeys) would: a test
// that counts rows no store method lists, or tampers with them. One connection on which the
// data tables and the key store's tables are named unqualified (SQLite: the data file with the
// key store attached as keystore, sqlite.OpenFiles; PostgreSQL: both schemas on the
// search_path). Statements are the SQL both take: $1 placeholders. Closed when the test ends.
func SQL(t testing.TB, dir string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if u := DatabaseURL(t, dir); u != "" {
		db, err = sql.Open("pgx", searchPathURL(t, u))
	} else {
		db, err = sqlite.OpenFiles(dir, DiskKeys(t, dir))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db
}

// DiskKeys returns the disk keys (keys.Keyring.DiskKeys) of the installation in dir, whose root
// key and keysets are root.key and keysets.json there: what its SQLite files may be encrypted
// under. None when dir holds no keysets (a store opened without keys, whose files are plain).
func DiskKeys(t testing.TB, dir string) [][]byte {
	t.Helper()
	keysets := filepath.Join(dir, "keysets.json")
	if _, err := os.Stat(keysets); err != nil {
		return nil
	}
	kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: keysets})
	if err != nil {
		t.Fatalf("testdb: the keys in %s: %v", dir, err)
	}
	var out [][]byte
	for _, k := range kr.DiskKeys() {
		out = append(out, k.Key)
	}
	return out
}

// Decrypted returns the bytes of a file of dir's SQLite store (the database, the key store, a
// write-ahead log) as SQLite wrote them under the encryption (sqlite.Plaintext with DiskKeys),
// and true; b and false when b is not encrypted under them. A test that looks for what must not
// be in the files looks at both: the bytes on disk, and what is under the encryption.
func Decrypted(t testing.TB, dir string, b []byte) ([]byte, bool) {
	t.Helper()
	return sqlite.Plaintext(b, DiskKeys(t, dir))
}

// Files returns the files outside dir in which dir's store keeps its data, after every page
// has been written out: none on SQLite (its files are in dir); on PostgreSQL, the files of the
// relations of the directory's two schemas (tables, indexes, TOAST) in the server's data
// directory, which the test must be able to read (as CI does: the server runs beside it).
// Dead tuples stay in them until the store's vacuum after an erasure (postgres.DB.Purge).
func Files(t testing.TB, dir string) []string {
	t.Helper()
	u := DatabaseURL(t, dir)
	if u == "" {
		return nil
	}
	schema := pgtest.SchemaOf(u)
	db, err := sql.Open("pgx", pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CHECKPOINT"); err != nil {
		t.Fatalf("testdb: checkpoint: %v", err)
	}
	var data string
	if err := db.QueryRow("SHOW data_directory").Scan(&data); err != nil {
		t.Fatalf("testdb: data directory: %v", err)
	}
	rows, err := db.Query(`SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE pg_relation_filepath(c.oid) IS NOT NULL AND (n.nspname IN ($1, $2)
		OR c.oid IN (SELECT t.reltoastrelid FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE tn.nspname IN ($1, $2))
		OR c.oid IN (SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.reltoastrelid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE tn.nspname IN ($1, $2)))`,
		schema, schema+"_keys")
	if err != nil {
		t.Fatalf("testdb: relations: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var rel string
		if err := rows.Scan(&rel); err != nil {
			t.Fatal(err)
		}
		matches, _ := filepath.Glob(filepath.Join(data, rel) + "*") // the main fork, its segments and other forks
		out = append(out, matches...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// CopyStore copies the store of the data directory from to the data directory to, as a backup
// and its restore do, replacing what to's store held: on SQLite nothing (the store is the
// directory's files, which the test copies itself); on PostgreSQL both schemas, through the
// server's own backup tools (pg_dump, then psql into to's schemas). The store must be closed,
// as for a copy of the files.
func CopyStore(t testing.TB, from, to string) {
	t.Helper()
	src, dst := DatabaseURL(t, from), DatabaseURL(t, to)
	if src == "" {
		return
	}
	base := pgtest.URL(t)
	srcSchema, dstSchema := pgtest.SchemaOf(src), pgtest.SchemaOf(dst)
	pgtest.DropSchemas(t, base, dstSchema, dstSchema+"_keys")
	dump, err := exec.Command("pg_dump", "--no-owner", "--no-privileges", "--schema="+srcSchema, "--schema="+srcSchema+"_keys", "--dbname="+base).Output()
	if err != nil {
		t.Fatalf("testdb: pg_dump of %s: %v%s", srcSchema, err, stderrOf(err))
	}
	// The schema names are hashes: no other text of the dump holds them.
	restore := exec.Command("psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--dbname="+base)
	restore.Stdin = strings.NewReader(strings.ReplaceAll(string(dump), srcSchema, dstSchema))
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("testdb: psql restore into %s: %v\n%s", dstSchema, err, out)
	}
}

// stderrOf returns what a command that failed said on stderr, after a newline.
func stderrOf(err error) string {
	if e, ok := err.(*exec.ExitError); ok {
		return "\n" + string(e.Stderr)
	}
	return ""
}

// searchPathURL turns a URL DatabaseURL made into one pgx connects with: the data schema and
// the key schema on the search_path.
func searchPathURL(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", q.Get("schema")+","+q.Get("schema")+"_keys")
	q.Del("schema")
	u.RawQuery = q.Encode()
	return u.String()
}

// owned holds the schemas whose drop a running test has registered (by DatabaseURL).
var owned sync.Map
