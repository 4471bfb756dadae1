//go:build postgreswip

// Package postgres runs Tillit's store (the SQL of internal/store/sqlstore) on PostgreSQL, over
// pgx's database/sql driver (github.com/jackc/pgx/v5/stdlib), so that the statements are the
// ones SQLite runs, rewritten by the dialect.
//
// URL: postgres://user@host:port/db?…&schema=NAME. The data tables live in schema NAME (default
// "tillit"), the key store (wrapped data keys, the audit anchor) in NAME_keys, which grants
// nothing to other roles, so that a dump of the data schema holds no keys.
//
// Write transactions run one at a time across every node on the database: each takes a
// transaction-level advisory lock keyed by the data schema before its first statement, so the
// audit chain's head, read inside the transaction, cannot move under it. Reads run in
// REPEATABLE READ read-only transactions that never wait for the writer. Both schemas commit
// at once, so the split-commit repair of the SQLite backend always finds the markers equal.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"net/url"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/sqlstore"
)

// Compile-time checks: the shared transaction is every domain's, and the backend is a store.
var (
	_ store.Tx    = (*sqlstore.Tx)(nil)
	_ store.Store = (*DB)(nil)
)

func init() {
	d := store.Driver{Open: openStore, Parts: func(string) []store.Part { return nil }}
	store.Register("postgres", d)
	store.Register("postgresql", d)
}

// DB is an open PostgreSQL store.
type DB struct {
	*sqlstore.Base
	pool       *sql.DB
	data, keys string // schema names
	lockKey    int64  // the advisory lock of write transactions
	gen        atomic.Uint64
}

// Config is what Open needs besides the URL.
type Config struct {
	AnchorMAC func(seq int64, hash []byte) ([]byte, error)
}

// splitURL takes Tillit's own parameter (schema) out of a database URL; pgx would send it to
// the server as a setting.
func splitURL(raw string) (conn, schema string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("postgres: the database URL does not parse")
	}
	q := u.Query()
	schema = q.Get("schema")
	if schema == "" {
		schema = "tillit"
	}
	if !ValidSchemaName(schema) || !ValidSchemaName(schema+"_keys") {
		return "", "", fmt.Errorf("postgres: schema %q: lower-case letters, digits and _, not starting with pg_", schema)
	}
	q.Del("schema")
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

func openStore(ctx context.Context, location string, cfg store.Config) (store.Store, error) {
	db, err := Open(ctx, location, Config{AnchorMAC: cfg.AnchorMAC})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// Open connects to the database at rawURL, creates both schemas when absent and applies the
// migrations (Migrate).
func Open(ctx context.Context, rawURL string, cfg Config) (*DB, error) {
	conn, schema, err := splitURL(rawURL)
	if err != nil {
		return nil, err
	}
	pool, err := sql.Open("pgx", conn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(16)
	h := fnv.New64a()
	h.Write([]byte("tillit-writer:" + schema))
	db := &DB{pool: pool, data: schema, keys: schema + "_keys", lockKey: int64(h.Sum64())}
	db.Base = &sqlstore.Base{Dialect: dialect(db.data, db.keys), Reader: pool, AnchorMAC: cfg.AnchorMAC}
	db.Committed = func(context.Context) { db.gen.Add(1) }
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := Migrate(ctx, pool, db.data, db.keys); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Update runs fn in one read-write transaction, the only one of the cluster at a time.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	begin := func(ctx context.Context) (*sql.Tx, error) {
		tx, err := db.pool.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", db.lockKey); err != nil {
			tx.Rollback()
			return nil, err
		}
		return tx, nil
	}
	return db.Run(ctx, begin, func(tx *sqlstore.Tx) error { return fn(tx) })
}

// View runs fn in a read-only REPEATABLE READ transaction: one snapshot, never waiting.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	sqltx, err := db.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return translate(fmt.Errorf("postgres: begin read: %w", err))
	}
	defer sqltx.Rollback()
	return fn(db.NewTx(sqltx, true))
}

// Purge vacuums the key store's tables, so that no dead tuple of an erased person's key remains
// readable in the table files (GDPR Art. 17). VACUUM cannot run inside a transaction.
func (db *DB) Purge(ctx context.Context) error {
	for _, t := range []string{"contact_keys", "audit_anchor"} {
		if _, err := db.pool.ExecContext(ctx, "VACUUM "+quoteIdent(db.keys)+"."+t); err != nil {
			return fmt.Errorf("postgres: vacuum: %w", err)
		}
	}
	return nil
}

// Generation changes with every commit of this process.
func (db *DB) Generation(ctx context.Context) (uint64, error) { return db.gen.Load(), nil }

// Ready answers GET /readyz (sqlstore.Ready).
func (db *DB) Ready(ctx context.Context, wait time.Duration) store.Readiness {
	return sqlstore.Ready(ctx, wait, func(ctx context.Context, fn func(*sqlstore.Tx) error) error {
		return db.Update(ctx, func(tx store.Tx) error { return fn(tx.(*sqlstore.Tx)) })
	})
}

// Close closes the pool.
func (db *DB) Close() error {
	db.Base.Close()
	return db.pool.Close()
}
