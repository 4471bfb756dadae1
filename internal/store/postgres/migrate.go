// Package postgres is Tillit's PostgreSQL store (issue 13). Its schema is SQLite's (package
// store/sqlite) column for column, so the same query texts run on both and rows copy across
// verbatim: the data tables live in one schema, the key store's tables in another that no other
// role is given access to.
package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// The migrations are SQLite's, by number and name, translated to PostgreSQL: after all of them
// the two schemas are equal (TestSchemaMatchesSQLite). Data tables are unqualified (created in the
// data schema through search_path); key-store tables carry the prefix "keystore.", which Migrate
// replaces with the key schema's quoted name.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// markersDDL creates the commit markers as SQLite's ensureMarkers does: not a migration there
// either, run after the migrations by every Migrate.
//
//go:embed markers.sql
var markersDDL string

// schemaNameRE is what a schema name given to Migrate must match: it is written into statements
// (quoted), so nothing else is accepted. Its length is bounded by MaxIdentifier.
var schemaNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// MaxIdentifier is the length in bytes of the longest name PostgreSQL keeps whole (NAMEDATALEN
// - 1, PostgreSQL 15 §4.1.1); a longer one is cut to it, so two schema names alike in their
// first 63 bytes would be one schema.
const MaxIdentifier = 63

// keystorePrefix is the key-store qualifier in the migration texts.
var keystorePrefix = regexp.MustCompile(`\bkeystore\.`)

// timeLayout is the store's fixed-width RFC 3339 layout (as package sqlite writes times).
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

type migration struct {
	version int
	name    string // file name, e.g. 0001_init.sql
	body    string
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name must start with its number", base)
		}
		if other, ok := seen[v]; ok {
			return nil, fmt.Errorf("postgres: migrations %s and %s have the same number", other, base)
		}
		seen[v] = base
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, body: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Versions returns the numbers of the embedded migrations, in ascending order.
func Versions() []int {
	ms, err := loadMigrations()
	if err != nil {
		panic(err) // the embedded files are fixed at build time; TestVersionsMatchSQLite reads them
	}
	vs := make([]int, len(ms))
	for i, m := range ms {
		vs[i] = m.version
	}
	return vs
}

// ValidSchemaName reports whether name may be given to Migrate as a schema name: lower-case
// letters, digits and _, not starting with a digit or pg_, at most MaxIdentifier bytes.
func ValidSchemaName(name string) bool {
	return checkSchemaName(name, MaxIdentifier) == nil
}

// checkSchemaName refuses a schema name that is not a valid one of at most max bytes (all its
// characters are ASCII), saying which rule it breaks.
func checkSchemaName(name string, max int) error {
	if len(name) > max {
		return fmt.Errorf("postgres: schema name %q is too long: %d characters, at most %d", name, len(name), max)
	}
	if !schemaNameRE.MatchString(name) || strings.HasPrefix(name, "pg_") {
		return fmt.Errorf("postgres: schema name %q: want lower-case letters, digits and _, not starting with a digit or pg_", name)
	}
	return nil
}

// quoteIdent quotes a validated schema name.
func quoteIdent(name string) string { return `"` + name + `"` }

// lockKey is the advisory lock that serializes Migrate on one data schema (in one database), so
// two nodes starting at once never apply a migration twice.
func lockKey(dataSchema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tillit/store/postgres.Migrate\x00" + dataSchema))
	return int64(h.Sum64())
}

// Migrate creates the data and key schemas when absent, closes the key schema to PUBLIC, and
// applies the pending embedded migrations in order, each in its own transaction under a
// transaction-level advisory lock on the data schema, recording each in the data schema's
// schema_migrations. It then creates the commit markers when absent. Safe to run from several
// processes at once: each waits for the lock and skips what another applied.
func Migrate(ctx context.Context, db *sql.DB, dataSchema, keySchema string) error {
	return migrate(ctx, db, dataSchema, keySchema, 0)
}

// migrate is Migrate up to and including version upto (0: all); the commit markers are created
// once every migration is applied.
func migrate(ctx context.Context, db *sql.DB, dataSchema, keySchema string, upto int) error {
	for _, s := range []string{dataSchema, keySchema} {
		if err := checkSchemaName(s, MaxIdentifier); err != nil {
			return err
		}
	}
	if dataSchema == keySchema {
		return errors.New("postgres: the data and key schemas must differ")
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	data, keys := quoteIdent(dataSchema), quoteIdent(keySchema)
	lock := lockKey(dataSchema)

	err = inLockedTx(ctx, db, lock, func(tx *sql.Tx) error {
		if err := notAnotherStores(ctx, tx, dataSchema, keySchema); err != nil {
			return err
		}
		for _, s := range []string{dataSchema, keySchema} {
			// Checked first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when
			// the schema exists (one an administrator made beforehand).
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, s).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if _, err := tx.ExecContext(ctx, "CREATE SCHEMA "+quoteIdent(s)); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, "REVOKE ALL ON SCHEMA "+keys+" FROM PUBLIC"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+data+`.schema_migrations (
    version    BIGINT PRIMARY KEY,
    applied_at TEXT COLLATE "C" NOT NULL
)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: schemas: %w", err)
	}

	for _, m := range ms {
		if upto > 0 && m.version > upto {
			return nil
		}
		body := keystorePrefix.ReplaceAllLiteralString(m.body, keys+".")
		err := inLockedTx(ctx, db, lock, func(tx *sql.Tx) error {
			var applied bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+data+".schema_migrations WHERE version = $1)", m.version).Scan(&applied); err != nil {
				return err
			}
			if applied {
				return nil
			}
			if _, err := tx.ExecContext(ctx, "SET LOCAL search_path TO "+data); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, body); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO "+data+".schema_migrations (version, applied_at) VALUES ($1, $2)",
				m.version, time.Now().UTC().Format(timeLayout))
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
	}

	err = inLockedTx(ctx, db, lock, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET LOCAL search_path TO "+data); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, keystorePrefix.ReplaceAllLiteralString(markersDDL, keys+".")); err != nil {
			return err
		}
		if err := storeUncompressed(ctx, tx, dataSchema, keySchema); err != nil {
			return err
		}
		// Tables and sequences grant nothing to PUBLIC unless default privileges say otherwise:
		// the key schema's are closed whatever an administrator set.
		_, err := tx.ExecContext(ctx, "REVOKE ALL ON ALL TABLES IN SCHEMA "+keys+" FROM PUBLIC; REVOKE ALL ON ALL SEQUENCES IN SCHEMA "+keys+" FROM PUBLIC")
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: commit markers: %w", err)
	}
	return nil
}

// Seeded returns, for every table a fresh Migrate creates, the rows it leaves there: most none,
// a few one (the webhook cursor, the commit markers). Keys are the table's name, with the prefix
// "keystore." for the key schema's. It applies every migration and the commit markers to two
// scratch schemas in one transaction, counts, and rolls the transaction back, so nothing
// remains. tillit migrate-store tells such rows from a store's by it.
func Seeded(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	data := "tillit_seed_" + hex.EncodeToString(b)
	keys := data + "_keys"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("postgres: seeded rows: %w", err)
	}
	defer tx.Rollback()
	stmts := []string{"CREATE SCHEMA " + quoteIdent(data), "CREATE SCHEMA " + quoteIdent(keys), "SET LOCAL search_path TO " + quoteIdent(data)}
	for _, m := range ms {
		stmts = append(stmts, keystorePrefix.ReplaceAllLiteralString(m.body, quoteIdent(keys)+"."))
	}
	stmts = append(stmts, keystorePrefix.ReplaceAllLiteralString(markersDDL, quoteIdent(keys)+"."))
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("postgres: seeded rows: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_schema IN ($1, $2) AND table_type = 'BASE TABLE'`, data, keys)
	if err != nil {
		return nil, fmt.Errorf("postgres: seeded rows: %w", err)
	}
	var tables [][2]string
	for rows.Next() {
		var s, t string
		if err := rows.Scan(&s, &t); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, [2]string{s, t})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, st := range tables {
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(st[0])+"."+quoteIdent(st[1])).Scan(&n); err != nil {
			return nil, fmt.Errorf("postgres: seeded rows: %w", err)
		}
		name := st[1]
		if st[0] == keys {
			name = "keystore." + name
		}
		out[name] = n
	}
	return out, nil
}

// notAnotherStores refuses a data schema that is another installation's key schema (it holds
// contact_keys) and a key schema that is another installation's data schema (it holds
// schema_migrations): schema=X beside an installation at schema=X_keys would otherwise put its
// keys among that installation's data, where a dump of the data would carry them.
func notAnotherStores(ctx context.Context, tx *sql.Tx, dataSchema, keySchema string) error {
	for _, c := range []struct{ schema, table, role string }{
		{dataSchema, "contact_keys", "key"},
		{keySchema, "schema_migrations", "data"},
	} {
		var found bool
		if err := tx.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", quoteIdent(c.schema)+"."+c.table).Scan(&found); err != nil {
			return err
		}
		if found {
			return fmt.Errorf("schema %s is another installation's %s schema: choose another schema name", c.schema, c.role)
		}
	}
	return nil
}

// storeUncompressed sets storage EXTERNAL on every BYTEA column of the two schemas that lacks
// it: what they hold is ciphertext, keyed hashes and wrapped keys, which do not compress, so
// PostgreSQL's attempt to compress values over about 2 KB before moving them out of line is
// wasted work. Each run covers the columns the migrations added since.
func storeUncompressed(ctx context.Context, tx *sql.Tx, schemas ...string) error {
	rows, err := tx.QueryContext(ctx, `SELECT n.nspname, c.relname, a.attname FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		AND a.atttypid = 'bytea'::regtype AND a.attstorage <> 'e' ORDER BY 1, 2, 3`, schemas)
	if err != nil {
		return err
	}
	var alters []string
	for rows.Next() {
		var schema, table, column string
		if err := rows.Scan(&schema, &table, &column); err != nil {
			rows.Close()
			return err
		}
		alters = append(alters, "ALTER TABLE "+quoteIdent(schema)+"."+quoteIdent(table)+" ALTER COLUMN "+quoteIdent(column)+" SET STORAGE EXTERNAL")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range alters {
		if _, err := tx.ExecContext(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// inLockedTx runs f in a transaction holding the advisory lock key, and commits it.
func inLockedTx(ctx context.Context, db *sql.DB, key int64, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", key); err != nil {
		tx.Rollback()
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
