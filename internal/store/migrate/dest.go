package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tillit/tillit/internal/store/postgres"
)

// dest is the PostgreSQL database filled: one connection, which holds the store's writer lock
// from connect to close.
type dest struct {
	conn       *pgx.Conn
	db         *sql.DB // for postgres.Migrate and postgres.Seeded
	data, keys string  // schema names
}

// openDest connects to the database rawURL names and takes the store's writer lock
// (postgres.WriterLock) for the session, so that no node writes to the schema while the copy
// runs; it fails at once when a session holds it already.
func openDest(ctx context.Context, rawURL string) (*dest, error) {
	connString, data, keys, err := postgres.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("the destination URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("the destination: %w", err)
	}
	d := &dest{conn: conn, db: stdlib.OpenDB(*cfg), data: data, keys: keys}
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", postgres.WriterLock(data)).Scan(&locked); err != nil {
		d.close()
		return nil, fmt.Errorf("the destination: %w", err)
	}
	if !locked {
		d.close()
		return nil, fmt.Errorf("the destination schema %s is being written to (a tillit serve on it, or another migrate-store): stop it, then run migrate-store again", data)
	}
	return d, nil
}

// close ends the session, which releases the writer lock.
func (d *dest) close() {
	d.db.Close()
	d.conn.Close(context.Background())
}

// schemaOf maps the source's schemas to the destination's.
func (d *dest) schemaOf() map[string]string {
	return map[string]string{"main": d.data, "keystore": d.keys}
}

// qualified names a destination table.
func (d *dest) table(schema, name string) string { return quote(schema) + "." + quote(name) }

// columns reads every column of every table in the two schemas (information_schema), keyed
// by "schema.table".
func (d *dest) columns(ctx context.Context) (map[string][]destColumn, error) {
	rows, err := d.conn.Query(ctx, `SELECT c.table_schema, c.table_name, c.column_name, c.data_type,
			c.is_nullable = 'YES' OR c.column_default IS NOT NULL OR c.is_identity = 'YES',
			c.is_identity = 'YES' OR coalesce(c.column_default LIKE 'nextval(%', false)
		FROM information_schema.columns c JOIN information_schema.tables t
			ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE c.table_schema = ANY($1) ORDER BY c.table_schema, c.table_name, c.ordinal_position`, []string{d.data, d.keys})
	if err != nil {
		return nil, fmt.Errorf("the destination's tables: %w", err)
	}
	defer rows.Close()
	out := map[string][]destColumn{}
	for rows.Next() {
		var schema, tbl string
		var c destColumn
		if err := rows.Scan(&schema, &tbl, &c.name, &c.dataType, &c.optional, &c.sequence); err != nil {
			return nil, err
		}
		out[schema+"."+tbl] = append(out[schema+"."+tbl], c)
	}
	return out, rows.Err()
}

// found is what the destination held before this run touched it.
type found struct {
	versions []int            // applied migrations (none: no store there)
	rows     map[string]int64 // rows per table ("contacts", "keystore.contact_keys"), schema_migrations and the copy's record left out
	source   *sourceRecord    // the migration recorded there, if any
	progress map[string]progressRow
}

// sourceRecord is the migrate_source row: which installation, in which state, the copy is of.
type sourceRecord struct {
	installation, state string
	startedAt           string
	finishedAt          sql.NullString
}

// progressRow is one migrate_progress row.
type progressRow struct {
	lastKey string // encodeKey's; "" before the first batch
	rows    int64
	done    bool
}

// inspect reads what the destination holds, before anything is created or migrated there.
func (d *dest) inspect(ctx context.Context) (*found, error) {
	cols, err := d.columns(ctx)
	if err != nil {
		return nil, err
	}
	f := &found{rows: map[string]int64{}, progress: map[string]progressRow{}}
	for _, schema := range []string{d.data, d.keys} {
		for key := range cols {
			tbl, ok := strings.CutPrefix(key, schema+".")
			if !ok || slices.Contains([]string{migrationsTable, progressTable, sourceTable}, tbl) {
				continue
			}
			var n int64
			if err := d.conn.QueryRow(ctx, "SELECT count(*) FROM "+d.table(schema, tbl)).Scan(&n); err != nil {
				return nil, fmt.Errorf("the destination: %w", err)
			}
			if schema == d.keys {
				tbl = "keystore." + tbl
			}
			f.rows[tbl] = n
		}
	}
	if _, ok := cols[d.data+"."+migrationsTable]; ok {
		if f.versions, err = d.versions(ctx); err != nil {
			return nil, err
		}
	}
	if _, ok := cols[d.data+"."+sourceTable]; ok {
		var r sourceRecord
		err := d.conn.QueryRow(ctx, "SELECT installation, state, started_at, finished_at FROM "+d.table(d.data, sourceTable)+" WHERE id = 1").
			Scan(&r.installation, &r.state, &r.startedAt, &r.finishedAt)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("the destination's %s: %w", sourceTable, err)
		}
		if err == nil {
			f.source = &r
		}
	}
	if _, ok := cols[d.data+"."+progressTable]; ok {
		rows, err := d.conn.Query(ctx, "SELECT table_name, last_key, rows, done FROM "+d.table(d.data, progressTable))
		if err != nil {
			return nil, fmt.Errorf("the destination's %s: %w", progressTable, err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var p progressRow
			var done int64
			if err := rows.Scan(&name, &p.lastKey, &p.rows, &done); err != nil {
				return nil, err
			}
			p.done = done == 1
			f.progress[name] = p
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// versions reads the destination's applied migrations.
func (d *dest) versions(ctx context.Context) ([]int, error) {
	rows, err := d.conn.Query(ctx, "SELECT version FROM "+d.table(d.data, migrationsTable)+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("the destination's migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("the destination's migrations: %w", err)
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = int(v)
	}
	return out, nil
}

// migrate creates the schemas when absent and applies this tillit's migrations
// (postgres.Migrate), over a connection of its own.
func (d *dest) migrate(ctx context.Context) error { return postgres.Migrate(ctx, d.db, d.data, d.keys) }

// prepare creates the tables that record the copy (see the package doc) when absent.
func (d *dest) prepare(ctx context.Context) error {
	_, err := d.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+d.table(d.data, sourceTable)+` (
    id           BIGINT PRIMARY KEY CHECK (id = 1),
    installation TEXT COLLATE "C" NOT NULL, -- SHA-256 of the source's first audit event, hex
    state        TEXT COLLATE "C" NOT NULL, -- the source's audit anchor and commit marker when the copy began
    started_at   TEXT COLLATE "C" NOT NULL,
    finished_at  TEXT COLLATE "C"           -- NULL until the copy is whole
);
CREATE TABLE IF NOT EXISTS `+d.table(d.data, progressTable)+` (
    table_name TEXT COLLATE "C" PRIMARY KEY, -- "contacts", "keystore.contact_keys"
    last_key   TEXT COLLATE "C" NOT NULL,    -- the last row copied: its key (JSON, typed values)
    rows       BIGINT NOT NULL,              -- rows copied
    done       BIGINT NOT NULL               -- 1 once the table is copied whole
)`)
	if err != nil {
		return fmt.Errorf("the destination's progress tables: %w", err)
	}
	return nil
}

// record writes the source the copy is of, when the copy begins.
func (d *dest) record(ctx context.Context, installation, state string) error {
	_, err := d.conn.Exec(ctx, "INSERT INTO "+d.table(d.data, sourceTable)+" (id, installation, state, started_at) VALUES (1, $1, $2, $3)",
		installation, state, time.Now().UTC().Format(time.RFC3339))
	return err
}

// finish marks the copy whole.
func (d *dest) finish(ctx context.Context) error {
	_, err := d.conn.Exec(ctx, "UPDATE "+d.table(d.data, sourceTable)+" SET finished_at = $1 WHERE id = 1", time.Now().UTC().Format(time.RFC3339))
	return err
}

// write copies one batch of t's rows (converted) and records the progress in one transaction:
// the rows and their record commit together or not at all. A table the migrations put rows in
// (the commit markers, the webhook cursor) has them deleted in the same transaction as its
// first batch: the source's replace them.
func (d *dest) write(ctx context.Context, t *table, batch [][]any, first bool, p progressRow) error {
	tx, err := d.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if first && t.replace {
		if _, err := tx.Exec(ctx, "DELETE FROM "+d.table(t.dst, t.name)); err != nil {
			return err
		}
	}
	if len(batch) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.dst, t.name}, t.colNames(), pgx.CopyFromRows(batch)); err != nil {
			return err
		}
	}
	done := int64(0)
	if p.done {
		done = 1
	}
	_, err = tx.Exec(ctx, "INSERT INTO "+d.table(d.data, progressTable)+` (table_name, last_key, rows, done) VALUES ($1, $2, $3, $4)
		ON CONFLICT (table_name) DO UPDATE SET last_key = excluded.last_key, rows = excluded.rows, done = excluded.done`,
		t.qualified(), p.lastKey, p.rows, done)
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// resetSequences sets each sequence of t's columns so that the next value follows the largest
// copied (or floor, SQLite's AUTOINCREMENT high-water mark, when larger), as SQLite would
// continue.
func (d *dest) resetSequences(ctx context.Context, t *table, floor int64) error {
	for _, col := range t.identity {
		q := "SELECT setval(pg_get_serial_sequence($1, $2), GREATEST(coalesce(max(" + quote(col) + "), 0), $3) + 1, false) FROM " + d.table(t.dst, t.name)
		if _, err := d.conn.Exec(ctx, q, d.table(t.dst, t.name), col, floor); err != nil {
			return fmt.Errorf("the sequence of %s.%s: %w", t.qualified(), col, err)
		}
	}
	return nil
}

// digest reads every row of t in the destination into a digest (see digest).
func (d *dest) digest(ctx context.Context, t *table) (digest, error) {
	var dg digest
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = quote(c.name)
	}
	rows, err := d.conn.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+d.table(t.dst, t.name))
	if err != nil {
		return dg, err
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return dg, err
		}
		if err := dg.add(vals); err != nil {
			return dg, err
		}
	}
	return dg, rows.Err()
}
