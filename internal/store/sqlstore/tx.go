package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
)

// Dialect is what differs between the SQL databases the statements run on.
type Dialect struct {
	// Name prefixes error messages: "sqlite", "postgres".
	Name string
	// Rewrite turns a statement as written here (SQLite's syntax: ? placeholders, the key store
	// as schema "keystore", INSERT OR IGNORE/REPLACE) into the database's; nil runs it as
	// written. It must be a pure function of its argument: results are cached.
	Rewrite func(query string) string
	// Translate maps a driver error to an apperr kind (unique violation → Conflict, busy →
	// Unavailable) and returns any other error unchanged.
	Translate func(error) error
	// IsConstraint reports whether err is a constraint violation (a foreign key still
	// referencing a row a repair would delete).
	IsConstraint func(error) bool
	// IntBools: the database's driver does not store a Go bool in an integer column (pgx), so
	// bool arguments are passed as 1 and 0, as SQLite's driver stores them.
	IntBools bool
	// Prepare: prepare each statement once per transaction (SQLite, where preparing is local
	// and a statement run hundreds of times per batch pays once). Without it statements are
	// run directly and the driver caches them per connection (pgx).
	Prepare bool
	// Notify, when set, runs (as written, not rewritten) last in every transaction that wrote,
	// so that other processes on the same database learn of the commit (PostgreSQL: pg_notify,
	// delivered at commit to every node's listener; Generation). It takes one argument, the
	// payload: GonePayload of the mail-file owners the transaction made gone, "" when none.
	Notify string
	// Savepoints: a failed statement aborts the whole transaction (PostgreSQL), so a statement
	// whose failure the Tx answers with a further read (the id a taken address belongs to) runs
	// under a savepoint, rolled back to when it fails (execRecoverable).
	Savepoints bool
}

// Base is what the transactions of one open database share. Its fields are set once, when the
// database opens, before any transaction.
type Base struct {
	Dialect Dialect
	// Reader runs the reads that need no transaction of their own (audit verification,
	// counts): a pool that never waits for the writer.
	Reader *sql.DB
	// AnchorMAC, when set, keys the audit anchor: every anchor written carries AnchorMAC(seq,
	// hash), and an anchor whose MAC does not verify is refused (writes) or reported (Verify).
	AnchorMAC func(seq int64, hash []byte) ([]byte, error)
	// AnchorMACs, when set, lists every MAC an anchor verifies under (each key of the
	// blind-index keyset, keys.Keyring.AnchorMACs); nil: AnchorMAC's alone (anchorVerifies).
	AnchorMACs func(seq int64, hash []byte) ([][]byte, error)
	// AnchorUnsealed: the MAC column was added by this Open, so the anchor has none yet
	// (SealAnchor).
	AnchorUnsealed bool
	// OnRepair, when set, is told of every repair of a split commit (Run).
	OnRepair func(Repair)
	// Committed, when set, is called after every commit of this process.
	Committed func(ctx context.Context)

	shapes map[string]*sql.Stmt // bulk statements prepared on the writer connection (PrepareBulk)
	reads  map[string]*sql.Stmt // hot read queries prepared on the reader pool (PrepareReads)
	// rewritten caches Dialect.Rewrite; guarded by rewriteMu.
	rewritten syncMap
}

// Tx is one transaction. It implements the Tx interfaces of the domain packages (store.Tx).
//
// The head of the audit chain is read from the database by the transaction's first AppendAudit:
// a backend runs write transactions one at a time (SQLite: BEGIN IMMEDIATE under a process
// lock; PostgreSQL: an advisory lock), so the head cannot move under it, even with another
// process or node appending to the same log.
type Tx struct {
	base       *Base
	tx         *sql.Tx
	headLoaded bool
	headMoved  bool // an event was appended: the anchor moves at commit
	// keysTouched: a statement wrote the key store; both commit markers move at commit.
	keysTouched bool
	wrote       bool       // a statement changed a row (Dialect.Notify)
	gone        store.Gone // contacts deleted, requests forgotten (Dialect.Notify's payload)
	repair      *Repair    // what reconcile repaired before this transaction; nil when none was needed
	headSeq     int64
	headHash    []byte
	stmts       map[string]*sql.Stmt
	purposes    map[string]consent.Purpose // purposes read or written in this transaction
	readOnly    bool                       // a View transaction on the reader pool
}

// NewTx wraps a database transaction; readOnly for a View on the reader pool.
func (b *Base) NewTx(tx *sql.Tx, readOnly bool) *Tx {
	return &Tx{base: b, tx: tx, readOnly: readOnly}
}

// Repaired is what the repair before this transaction did (Run), or nil.
func (tx *Tx) Repaired() *Repair { return tx.repair }

// Rollback abandons the transaction.
func (tx *Tx) Rollback() { tx.tx.Rollback() }

// Run runs fn in one read-write transaction begun by begin, which the caller has made the only
// writer (a lock): a split commit found first (reconcile) is repaired and committed in a
// transaction of its own, so that fn failing does not undo the repair; then fn, committed when
// it returns nil and rolled back otherwise (a panic rolls back and is re-raised).
func (b *Base) Run(ctx context.Context, begin func(context.Context) (*sql.Tx, error), fn func(*Tx) error) error {
	start := func() (*Tx, error) {
		sqltx, err := begin(ctx)
		if err != nil {
			return nil, b.translate(fmt.Errorf("%s: begin: %w", b.Dialect.Name, err))
		}
		return b.NewTx(sqltx, false), nil
	}
	tx, err := start()
	if err != nil {
		return err
	}
	rep, err := tx.reconcile(ctx)
	if err != nil {
		tx.Rollback()
		return errSplit(err)
	}
	if rep != nil {
		if b.OnRepair != nil {
			b.OnRepair(*rep)
		}
		if err := tx.commit(ctx); err != nil {
			return errSplit(err)
		}
		if tx, err = start(); err != nil {
			return err
		}
		tx.repair = rep
	}
	committed := false
	defer func() {
		// Also on a panic in fn: never leave the connection inside a transaction.
		if !committed {
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.commit(ctx); err != nil {
		return err
	}
	committed = true
	return nil
}

// loadHead reads the head to chain onto from the anchor in the key store, not from the log's
// last row: after events were deleted from the end of the log, new events still follow the
// anchored head, so the deletion stays visible as a gap (and a log that holds events beyond its
// anchor refuses new ones, by a sequence-number conflict, instead of hiding them). With
// AnchorMAC set, an anchor whose MAC does not verify is refused (Unavailable, reason
// anchor_forged): a write would sign the forged head and hide the forgery.
func (tx *Tx) loadHead(ctx context.Context) error {
	if tx.headLoaded {
		return nil
	}
	row, err := tx.queryRow(ctx, `SELECT seq, hash, mac FROM keystore.audit_anchor WHERE id = 1`)
	if err != nil {
		return err
	}
	var mac []byte
	err = row.Scan(&tx.headSeq, &tx.headHash, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		tx.headSeq, tx.headHash = 0, audit.Genesis()
		tx.headLoaded = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: audit head: %w", tx.base.Dialect.Name, err)
	}
	if tx.base.AnchorMAC != nil && !tx.base.AnchorUnsealed {
		ok, err := tx.base.anchorVerifies(tx.headSeq, tx.headHash, mac)
		if err != nil {
			return err
		}
		if !ok {
			return errAnchorForged
		}
	}
	tx.headLoaded = true
	return nil
}

// errAnchorForged refuses writes over an anchor whose MAC does not verify.
var errAnchorForged = &apperr.Error{Kind: apperr.Unavailable, Reason: "anchor_forged",
	Message: "the audit log's anchor does not verify (tillit audit verify says where); writes are refused until it is investigated"}

// commit moves the anchor and the commit markers as the transaction requires and commits. The
// data file's marker also records the anchor this commit writes, with its MAC: reconcile moves
// the key store's anchor only to that (an event forged in the data file alone is never signed).
// On an error the transaction is rolled back.
func (tx *Tx) commit(ctx context.Context) error {
	if err := tx.moveMarkers(ctx); err != nil {
		tx.Rollback()
		return err
	}
	if tx.wrote && tx.base.Dialect.Notify != "" {
		if _, err := tx.tx.ExecContext(ctx, tx.base.Dialect.Notify, GonePayload(tx.gone)); err != nil {
			tx.Rollback()
			return tx.base.translate(fmt.Errorf("%s: notify: %w", tx.base.Dialect.Name, err))
		}
	}
	if err := tx.tx.Commit(); err != nil {
		return tx.base.translate(fmt.Errorf("%s: commit: %w", tx.base.Dialect.Name, err))
	}
	if tx.base.Committed != nil {
		tx.base.Committed(ctx)
	}
	return nil
}

func (tx *Tx) moveMarkers(ctx context.Context) error {
	var qs []string
	var args [][]any
	if tx.headMoved {
		var mac []byte
		if tx.base.AnchorMAC != nil {
			var err error
			if mac, err = tx.base.AnchorMAC(tx.headSeq, tx.headHash); err != nil {
				return err
			}
		}
		qs = append(qs,
			"INSERT INTO keystore.audit_anchor (id, seq, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
			"UPDATE main.commit_marker SET anchor_seq = ?, anchor_hash = ?, anchor_mac = ? WHERE id = 1",
			"UPDATE keystore.commit_marker SET bound = 1 WHERE id = 1 AND bound = 0")
		args = append(args, []any{tx.headSeq, tx.headHash, mac}, []any{tx.headSeq, tx.headHash, mac}, nil)
	}
	if tx.headMoved || tx.keysTouched {
		// Both markers move in this transaction: equal after it commits in both files, the data
		// file's one ahead if the process dies between the two (reconcile).
		qs = append(qs,
			"UPDATE main.commit_marker SET gen = gen + 1 WHERE id = 1",
			"UPDATE keystore.commit_marker SET gen = (SELECT gen FROM main.commit_marker WHERE id = 1) WHERE id = 1")
		args = append(args, nil, nil)
	}
	for i, q := range qs {
		if _, err := tx.exec(ctx, q, args[i]...); err != nil {
			return fmt.Errorf("%s: audit anchor and commit markers: %w", tx.base.Dialect.Name, err)
		}
	}
	return nil
}

// PrepareReads prepares the hot read queries on the reader pool (with Dialect.Prepare).
func (b *Base) PrepareReads(ctx context.Context) error {
	b.reads = map[string]*sql.Stmt{}
	if !b.Dialect.Prepare {
		return nil
	}
	for _, q := range []string{qPurposeByID, qGateFacts, qGateFactsFor, qTokenByHash} {
		st, err := b.Reader.PrepareContext(ctx, b.rewrite(q))
		if err != nil {
			return fmt.Errorf("%s: prepare: %w", b.Dialect.Name, err)
		}
		b.reads[q] = st
	}
	return nil
}

// Close closes the statements prepared at open.
func (b *Base) Close() {
	for _, s := range b.shapes {
		s.Close()
	}
	for _, s := range b.reads {
		s.Close()
	}
}

// rewrite returns query in the database's syntax (Dialect.Rewrite), cached.
func (b *Base) rewrite(query string) string {
	if b.Dialect.Rewrite == nil {
		return query
	}
	if q, ok := b.rewritten.Load(query); ok {
		return q
	}
	q := b.Dialect.Rewrite(query)
	b.rewritten.Store(query, q)
	return q
}

func (b *Base) translate(err error) error {
	if err == nil || b.Dialect.Translate == nil {
		return err
	}
	return b.Dialect.Translate(err)
}

// stmt returns a statement prepared once per transaction (an import batch runs the same few
// statements hundreds of times). database/sql closes them when the transaction ends. Without
// Dialect.Prepare it returns nil, and the caller runs the query on the transaction directly.
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if !tx.base.Dialect.Prepare {
		return nil, nil
	}
	if s, ok := tx.stmts[query]; ok {
		return s, nil
	}
	if s, ok := tx.base.reads[query]; ok && tx.readOnly {
		// database/sql keeps the statement prepared per connection: after the first use on a
		// reader connection, a transaction there pays nothing to prepare it.
		s = tx.tx.StmtContext(ctx, s)
		if tx.stmts == nil {
			tx.stmts = map[string]*sql.Stmt{}
		}
		tx.stmts[query] = s
		return s, nil
	}
	s, err := tx.tx.PrepareContext(ctx, tx.base.rewrite(query))
	if err != nil {
		return nil, tx.base.translate(err)
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[query] = s
	return s, nil
}

// bools passes bool arguments as 1 and 0 where the dialect needs it (Dialect.IntBools).
func (b *Base) bools(args []any) []any {
	if !b.Dialect.IntBools {
		return args
	}
	for i, a := range args {
		if v, ok := a.(bool); ok {
			args[i] = 0
			if v {
				args[i] = 1
			}
		}
	}
	return args
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx.noteWrite(query)
	args = tx.base.bools(args)
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	var res sql.Result
	if s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = tx.tx.ExecContext(ctx, tx.base.rewrite(query), args...)
	}
	if err == nil {
		// A statement that changed no row (an empty DELETE) is no news for other nodes.
		if n, nerr := res.RowsAffected(); nerr != nil || n > 0 {
			tx.wrote = true
		}
	}
	return res, tx.base.translate(err)
}

// noteReturning notes a statement that reads what it writes (INSERT … RETURNING) as writing.
func (tx *Tx) noteReturning(query string) {
	if !strings.HasPrefix(strings.TrimSpace(query), "SELECT") {
		tx.noteWrite(query)
		tx.wrote = true
	}
}

// execRecoverable is exec for a statement whose failure the caller answers with a further
// statement in the same transaction: under a savepoint where the dialect needs one, so the
// transaction survives the failure (Dialect.Savepoints).
func (tx *Tx) execRecoverable(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !tx.base.Dialect.Savepoints {
		return tx.exec(ctx, query, args...)
	}
	if _, err := tx.tx.ExecContext(ctx, "SAVEPOINT recoverable"); err != nil {
		return nil, tx.base.translate(err)
	}
	res, err := tx.exec(ctx, query, args...)
	undo := "RELEASE SAVEPOINT recoverable"
	if err != nil {
		undo = "ROLLBACK TO SAVEPOINT recoverable"
	}
	if _, uerr := tx.tx.ExecContext(ctx, undo); uerr != nil {
		return nil, tx.base.translate(uerr)
	}
	return res, err
}

func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	tx.noteReturning(query)
	args = tx.base.bools(args)
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return tx.tx.QueryRowContext(ctx, tx.base.rewrite(query), args...), nil
	}
	return s.QueryRowContext(ctx, args...), nil
}

func (tx *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	tx.noteReturning(query)
	args = tx.base.bools(args)
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if s != nil {
		rows, err = s.QueryContext(ctx, args...)
	} else {
		rows, err = tx.tx.QueryContext(ctx, tx.base.rewrite(query), args...)
	}
	return rows, tx.base.translate(err)
}

// Exec runs a statement of the caller's own in the transaction (a backend's tests set up
// states no domain method writes).
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.exec(ctx, query, args...)
}

// Query runs a query of the caller's own in the transaction (Exec).
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.query(ctx, query, args...)
}

// TimeLayout is RFC 3339 with a fixed nine-digit fraction, in UTC, so stored times compare
// correctly as text in SQL (time.RFC3339Nano drops trailing zeros: "…:00Z" would sort after
// "…:00.5Z"). Every backend stores times as this text.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime is t as stored: TimeLayout in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func formatTime(t time.Time) string { return FormatTime(t) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func nullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	return &t, err
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// execOne runs a statement that must change one row; NotFound with msg when it changed none.
func (tx *Tx) execOne(ctx context.Context, msg, query string, args ...any) error {
	res, err := tx.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "%s", msg)
	}
	return nil
}
