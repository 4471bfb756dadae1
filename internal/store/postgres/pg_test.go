package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testURLEnv names the PostgreSQL server the tests run against. Unset, they skip; set to a
// server that cannot be reached, they fail.
const testURLEnv = "TILLIT_TEST_POSTGRES_URL"

var ensureDBOnce sync.Mutex
var ensuredDB = map[string]bool{}

// testDB opens the database of TILLIT_TEST_POSTGRES_URL, creating it first (through the server's
// postgres database) when it does not exist.
func testDB(t *testing.T) *sql.DB {
	t.Helper()
	dsn := os.Getenv(testURLEnv)
	if dsn == "" {
		t.Skip(testURLEnv + " is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): PostgreSQL tests skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ensureDatabase(t, ctx, dsn)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("%s: %v", testURLEnv, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s is set but the server cannot be reached: %v", testURLEnv, err)
	}
	return db
}

func ensureDatabase(t *testing.T, ctx context.Context, dsn string) {
	t.Helper()
	ensureDBOnce.Lock()
	defer ensureDBOnce.Unlock()
	if ensuredDB[dsn] {
		return
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s: want a postgres:// URL", testURLEnv)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		ensuredDB[dsn] = true
		return
	}
	admin := *u
	admin.Path = "/postgres"
	adb, err := sql.Open("pgx", admin.String())
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	var exists bool
	if err := adb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("%s is set but the server cannot be reached: %v", testURLEnv, err)
	}
	if !exists {
		if _, err := adb.ExecContext(ctx, `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("create database %s: %v", name, err)
		}
	}
	ensuredDB[dsn] = true
}

func randomName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// freshSchemas returns two new schema names (data, key), dropped with everything in them when
// the test ends.
func freshSchemas(t *testing.T, db *sql.DB) (string, string) {
	t.Helper()
	data, keys := randomName(t, "tt_data_"), randomName(t, "tt_keys_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, s := range []string{data, keys} {
			if _, err := db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+quoteIdent(s)+" CASCADE"); err != nil {
				t.Errorf("drop schema %s: %v", s, err)
			}
		}
	})
	return data, keys
}

func TestMigrateRejectsBadSchemaNames(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ data, keys string }{
		{"", "keys"},
		{"data", ""},
		{"Data", "keys"},
		{"data", `keys"; DROP TABLE x; --`},
		{"1data", "keys"},
		{"data-x", "keys"},
		{"pg_data", "keys"},
		{strings.Repeat("a", MaxIdentifier+1), "keys"},
		{"data", strings.Repeat("k", MaxIdentifier+1)},
		{"same", "same"},
	} {
		// The names are refused before the database is touched (nil would panic otherwise).
		if err := Migrate(ctx, nil, c.data, c.keys); err == nil {
			t.Errorf("Migrate(%q, %q): want an error", c.data, c.keys)
		}
	}
	for _, ok := range []string{"tillit", "_x", "a1_b2", strings.Repeat("a", MaxIdentifier)} {
		if !ValidSchemaName(ok) {
			t.Errorf("ValidSchemaName(%q) = false, want true", ok)
		}
	}
}

// openFresh opens a store on a new schema (prefix + random) of the test server with cfg, as a
// node would, and returns it with the schema's name; a second openFresh on that name (schema)
// is a second node. The schemas are dropped when the test ends.
func openFresh(t *testing.T, prefix string, cfg Config) (*DB, string) {
	t.Helper()
	schema := randomName(t, prefix)
	admin := testDB(t)
	t.Cleanup(func() {
		for _, s := range []string{schema, schema + "_keys"} {
			admin.Exec("DROP SCHEMA IF EXISTS " + quoteIdent(s) + " CASCADE")
		}
	})
	return openSchemaNode(t, schema, cfg), schema
}

// openSchemaNode opens a store on schema with cfg, closed when the test ends.
func openSchemaNode(t *testing.T, schema string, cfg Config) *DB {
	t.Helper()
	u := os.Getenv(testURLEnv)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	db, err := Open(context.Background(), u+sep+"schema="+schema, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
