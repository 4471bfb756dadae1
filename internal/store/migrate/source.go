package migrate

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/postgres"
	"github.com/tillit/tillit/internal/store/sqlite"
)

// source is the SQLite store read: one connection holding both files' exclusive locks, and
// one read transaction on it for the whole run.
type source struct {
	db *sql.DB
	tx *sql.Tx
}

// openSource opens the store in dir exclusively (sqlite.OpenExclusive), saying what to do when
// another process has it open.
func openSource(ctx context.Context, dir string, keys [][]byte) (*source, error) {
	db, tx, err := sqlite.OpenExclusive(ctx, dir, keys)
	if errors.Is(err, sqlite.ErrInUse) {
		return nil, fmt.Errorf("the SQLite store in %s is in use by another process: stop tillit serve (and any other tillit command on that directory), then run migrate-store again", dir)
	}
	if err != nil {
		return nil, err
	}
	return &source{db: db, tx: tx}, nil
}

// close ends the read and releases the files.
func (s *source) close() {
	s.tx.Rollback()
	s.db.Close()
}

// checkSource makes sure the store in dir can be moved before anything is written anywhere:
// no other process has it open, its migrations are this tillit's (it would otherwise be
// upgraded by the opening below, unasked), and, opened as every command opens it (store.Open
// with the installation's key: a transaction a crash left half done is finished), its audit
// chain verifies: a copy of a broken chain would not verify either.
func checkSource(ctx context.Context, dir string, anchorMAC func(int64, []byte) ([]byte, error), anchorMACs func(int64, []byte) ([][]byte, error), keys [][]byte) error {
	s, err := openSource(ctx, dir, keys)
	if err != nil {
		return err
	}
	have, err := s.versions(ctx)
	s.close()
	if err != nil {
		return err
	}
	want := postgres.Versions()
	if newer := newest(have); !slices.Equal(have, want) {
		if newer > newest(want) || !subset(have, want) {
			return fmt.Errorf("the SQLite store in %s is at schema version %d, newer than this tillit's (%d): run migrate-store with the tillit version that last ran on it", dir, newer, newest(want))
		}
		return fmt.Errorf("the SQLite store in %s is at schema version %d and this tillit's is %d: upgrade the store first (run this tillit once on it, for example tillit audit verify --data %s), then run migrate-store again", dir, newer, newest(want), dir)
	}
	db, err := store.Open(ctx, store.Config{URL: "sqlite:" + dir, AnchorMAC: anchorMAC, AnchorMACs: anchorMACs, DiskKeys: keys})
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !v.OK {
		return fmt.Errorf("the audit log of the SQLite store in %s does not verify (%s): a copy would not verify either; run tillit audit verify --data %s and resolve that first", dir, v, dir)
	}
	return nil
}

// newest is the largest version of vs (0 for none).
func newest(vs []int) int {
	if len(vs) == 0 {
		return 0
	}
	return slices.Max(vs)
}

// subset reports whether every version of a is in b.
func subset(a, b []int) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

// versions reads the source's applied migrations.
func (s *source) versions(ctx context.Context) ([]int, error) {
	rows, err := s.tx.QueryContext(ctx, "SELECT version FROM "+migrationsTable+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("the SQLite store's migrations: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// identity returns what names the installation (the SHA-256 hash of its first audit event,
// hex; every installation's first event differs) and its state now (the audit anchor and the
// commit marker, which move with writes), as recorded in migrate_source.
func (s *source) identity(ctx context.Context) (installation, state string, err error) {
	var first []byte
	err = s.tx.QueryRowContext(ctx, "SELECT hash FROM audit_events ORDER BY seq LIMIT 1").Scan(&first)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		installation = "no audit events"
	case err != nil:
		return "", "", fmt.Errorf("the SQLite store's audit log: %w", err)
	default:
		installation = hex.EncodeToString(first)
	}
	var seq, gen sql.NullInt64
	var hash []byte
	if err := s.tx.QueryRowContext(ctx, "SELECT seq, hash FROM keystore.audit_anchor WHERE id = 1").Scan(&seq, &hash); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("the SQLite store's audit anchor: %w", err)
	}
	if err := s.tx.QueryRowContext(ctx, "SELECT gen FROM main.commit_marker WHERE id = 1").Scan(&gen); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("the SQLite store's commit marker: %w", err)
	}
	state = fmt.Sprintf("anchor %d %s, commit %d", seq.Int64, hex.EncodeToString(hash), gen.Int64)
	return installation, state, nil
}

// floor is SQLite's AUTOINCREMENT high-water mark of t (sqlite_sequence), 0 when it has none:
// a destination sequence must not hand out a number SQLite would not.
func (s *source) floor(ctx context.Context, t *table) (int64, error) {
	var n int
	if err := s.tx.QueryRowContext(ctx, "SELECT count(*) FROM "+quote(t.schema)+".sqlite_schema WHERE name = 'sqlite_sequence'").Scan(&n); err != nil || n == 0 {
		return 0, err
	}
	var seq int64
	err := s.tx.QueryRowContext(ctx, "SELECT seq FROM "+quote(t.schema)+".sqlite_sequence WHERE name = ?", t.name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// selectList is the columns read of t: its key's values first when the key is the rowid.
func (t *table) selectList() string {
	cols := make([]string, 0, len(t.cols)+1)
	if t.key == nil {
		cols = append(cols, "rowid")
	}
	for _, c := range t.cols {
		cols = append(cols, quote(c.name))
	}
	return strings.Join(cols, ", ")
}

// rows reads t's rows in key order, after the key after (nil: from the first).
func (s *source) rows(ctx context.Context, t *table, after []any) (*sql.Rows, error) {
	keys := t.keyNames()
	for i := range keys {
		keys[i] = quote(keys[i])
	}
	if t.key == nil {
		keys = []string{"rowid"}
	}
	q := "SELECT " + t.selectList() + " FROM " + quote(t.schema) + "." + quote(t.name)
	if after != nil {
		q += " WHERE (" + strings.Join(keys, ", ") + ") > (" + strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ") + ")"
	}
	q += " ORDER BY " + strings.Join(keys, ", ")
	return s.tx.QueryContext(ctx, q, after...)
}

// scan reads one row of rows (from s.rows or a plain select of t's columns): its key's values
// and its columns' values.
func (t *table) scan(rows *sql.Rows) (key, vals []any, err error) {
	n := len(t.cols)
	if t.key == nil {
		n++
	}
	raw := make([]any, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, nil, err
	}
	if t.key == nil {
		return raw[:1], raw[1:], nil
	}
	key = make([]any, len(t.key))
	for i, k := range t.key {
		key[i] = raw[k]
	}
	return key, raw, nil
}

// convertRow converts one source row for the destination, naming the table, the row's key and
// the column of a value it cannot convert (never the value).
func (t *table) convertRow(key, vals []any) ([]any, error) {
	out := make([]any, len(vals))
	for i, c := range t.cols {
		v, err := c.conv(vals[i])
		if err != nil {
			return nil, fmt.Errorf("table %s, row %s: column %s %v; nothing of that row was copied", t.qualified(), describeKey(t.keyNames(), key), c.name, err)
		}
		out[i] = v
	}
	return out, nil
}

// digest reads every row of t in the source into a digest of the values the destination is
// given (see digest).
func (s *source) digest(ctx context.Context, t *table) (digest, error) {
	var dg digest
	rows, err := s.tx.QueryContext(ctx, "SELECT "+t.selectList()+" FROM "+quote(t.schema)+"."+quote(t.name))
	if err != nil {
		return dg, err
	}
	defer rows.Close()
	for rows.Next() {
		key, vals, err := t.scan(rows)
		if err != nil {
			return dg, err
		}
		conv, err := t.convertRow(key, vals)
		if err != nil {
			return dg, err
		}
		if err := dg.add(conv); err != nil {
			return dg, err
		}
	}
	return dg, rows.Err()
}
