package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Bookkeeping tables (see the package doc).
const (
	migrationsTable = "schema_migrations" // compared, not copied: both sides at the same versions
	progressTable   = "migrate_progress"  // the destination's record of the copy
	sourceTable     = "migrate_source"    // the source the copy is of
)

// table is one table to copy.
type table struct {
	schema   string   // the source's schema: "main" (tillit.db) or "keystore" (keys.db)
	name     string   // its name, the same in both databases
	cols     []column // the source's columns, in their order
	key      []int    // positions in cols of the primary key, in key order; nil: the rowid
	parents  []string // qualified names of the tables its foreign keys reference
	replace  bool     // the destination's migrations put rows in it (commit_marker): replaced
	total    int64    // rows in the source
	dst      string   // the destination's schema
	identity []string // destination columns a sequence fills (reset after the copy)
}

// column is one column of a table.
type column struct {
	name    string
	srcType string // SQLite's declared type
	dstType string // PostgreSQL's data_type
	conv    convert
}

// qualified is the table's name in messages, progress and migrate_progress: "contacts", or
// "keystore.contact_keys" for the key store's.
func (t *table) qualified() string {
	if t.schema == "main" {
		return t.name
	}
	return t.schema + "." + t.name
}

// keyNames are the names of the key's columns ("rowid" for a table without a primary key).
func (t *table) keyNames() []string {
	if t.key == nil {
		return []string{"rowid"}
	}
	names := make([]string, len(t.key))
	for i, k := range t.key {
		names[i] = t.cols[k].name
	}
	return names
}

// colNames are the names of the columns copied.
func (t *table) colNames() []string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	return names
}

// sourceSchemas are SQLite's schemas in the source connection (OpenExclusive attaches the key
// store as keystore).
var sourceSchemas = []string{"main", "keystore"}

// quote quotes an identifier for SQLite and PostgreSQL alike.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// sourceTables reads the tables of both source files from their schema (sqlite_schema,
// PRAGMA table_info and foreign_key_list): every table but SQLite's own and
// schema_migrations, with its row count.
func sourceTables(ctx context.Context, tx *sql.Tx) ([]*table, error) {
	var out []*table
	for _, schema := range sourceSchemas {
		names, err := queryStrings(ctx, tx, "SELECT name FROM "+quote(schema)+`.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
		if err != nil {
			return nil, fmt.Errorf("the SQLite store's tables: %w", err)
		}
		for _, name := range names {
			if schema == "main" && name == migrationsTable {
				continue
			}
			t := &table{schema: schema, name: name}
			if err := t.readSource(ctx, tx); err != nil {
				return nil, fmt.Errorf("table %s of the SQLite store: %w", t.qualified(), err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// readSource reads t's columns, primary key, foreign keys and row count.
func (t *table) readSource(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT name, type, pk FROM pragma_table_info(?, ?) ORDER BY cid", t.name, t.schema)
	if err != nil {
		return err
	}
	type pk struct{ pos, order int }
	var pks []pk
	for rows.Next() {
		var c column
		var order int
		if err := rows.Scan(&c.name, &c.srcType, &order); err != nil {
			rows.Close()
			return err
		}
		if order > 0 {
			pks = append(pks, pk{len(t.cols), order})
		}
		t.cols = append(t.cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(t.cols) == 0 {
		return fmt.Errorf("no columns")
	}
	sort.Slice(pks, func(i, j int) bool { return pks[i].order < pks[j].order })
	for _, p := range pks {
		t.key = append(t.key, p.pos)
	}
	parents, err := queryStrings(ctx, tx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?, ?) ORDER BY 1`, t.name, t.schema)
	if err != nil {
		return err
	}
	for _, p := range parents {
		if p != t.name {
			q := &table{schema: t.schema, name: p}
			t.parents = append(t.parents, q.qualified())
		}
	}
	return tx.QueryRowContext(ctx, "SELECT count(*) FROM "+quote(t.schema)+"."+quote(t.name)).Scan(&t.total)
}

// queryStrings returns the first column of every row of q.
func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// destColumn is one column of a destination table (information_schema.columns).
type destColumn struct {
	name     string
	dataType string
	optional bool // nullable, or filled by a default or an identity
	sequence bool // an identity column, or one whose default is a sequence's nextval
}

// match pairs every source table with its destination table, in the destination's schemas for
// the source's (main: data, keystore: keys), and every source column with the destination's
// column of the same name, choosing each column's conversion. It fails naming the first table
// or column the destination lacks, a destination column the copy would leave empty that must
// not be, and a type it cannot convert to.
func match(tables []*table, dest map[string][]destColumn, schemaOf map[string]string) error {
	for _, t := range tables {
		t.dst = schemaOf[t.schema]
		dcols, ok := dest[t.dst+"."+t.name]
		if !ok {
			return fmt.Errorf("table %s of the SQLite store does not exist in the destination (schema %s): the two schemas differ at the same version; nothing was copied", t.qualified(), t.dst)
		}
		byName := map[string]destColumn{}
		for _, d := range dcols {
			byName[d.name] = d
			if d.sequence {
				t.identity = append(t.identity, d.name)
			}
		}
		for i := range t.cols {
			c := &t.cols[i]
			d, ok := byName[c.name]
			if !ok {
				return fmt.Errorf("column %s of table %s of the SQLite store does not exist in the destination; nothing was copied", c.name, t.qualified())
			}
			conv, err := converter(d.dataType)
			if err != nil {
				return fmt.Errorf("column %s of table %s: %w", c.name, t.qualified(), err)
			}
			c.dstType, c.conv = d.dataType, conv
		}
		for _, d := range dcols {
			if !d.optional && !slices.ContainsFunc(t.cols, func(c column) bool { return c.name == d.name }) {
				return fmt.Errorf("column %s of table %s in the destination must be filled but the SQLite store has no such column; nothing was copied", d.name, t.qualified())
			}
		}
	}
	return nil
}

// order sorts tables so that each comes after the tables its foreign keys reference (then by
// name), so that every row's parent is in the destination before it. A cycle is an error.
func order(tables []*table) ([]*table, error) {
	byName := map[string]*table{}
	for _, t := range tables {
		byName[t.qualified()] = t
	}
	done := map[string]bool{}
	var out []*table
	for len(out) < len(tables) {
		var ready []*table
		for _, t := range tables {
			if done[t.qualified()] {
				continue
			}
			ok := true
			for _, p := range t.parents {
				if _, known := byName[p]; known && !done[p] {
					ok = false
				}
			}
			if ok {
				ready = append(ready, t)
			}
		}
		if len(ready) == 0 {
			var left []string
			for _, t := range tables {
				if !done[t.qualified()] {
					left = append(left, t.qualified())
				}
			}
			return nil, fmt.Errorf("the foreign keys of tables %s form a cycle: no order copies parents first", strings.Join(left, ", "))
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i].qualified() < ready[j].qualified() })
		for _, t := range ready {
			done[t.qualified()] = true
		}
		out = append(out, ready...)
	}
	return out, nil
}
