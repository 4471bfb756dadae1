package sqlite

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Files in the data directory.
const (
	DataFile = "tillit.db"
	KeysFile = "keys.db"
)

// DB is an open Tillit database: the data file with the key store attached.
type DB struct {
	writer *sql.DB // one connection: every read-write transaction
	reader *sql.DB // a small pool for reads that decrypt nothing (audit verify, purposes)

	sem chan struct{} // the write lock: held for the whole of every write transaction in this process
	// gen counts this process's commits; extVersion and polled track other processes' commits
	// (PRAGMA data_version on watch), see Generation.
	gen        atomic.Uint64
	genMu      sync.Mutex
	watch      *sql.Conn
	extVersion int64
	polled     atomic.Int64         // unix nanoseconds of the last data_version poll
	shapes     map[string]*sql.Stmt // bulk statements prepared on writer at Open (see bulk.go)
	reads      map[string]*sql.Stmt // hot read queries prepared on the reader pool at Open

	// AnchorMAC, when set (right after Open, before use), keys the audit anchor: every anchor
	// written carries AnchorMAC(seq, hash), and VerifyAudit reports "anchor_forged" when the
	// stored one does not match. Without it anchors are written and checked unkeyed.
	AnchorMAC func(seq int64, hash []byte) ([]byte, error)
	// anchorUnsealed: this Open added the MAC column, so the anchor has none yet (SealAnchor).
	anchorUnsealed bool
	// OnRepair, when set, is told of every repair of a split commit (reconcile), to log it.
	OnRepair func(Repair)
}

// Options are the settings of Open that are not the data directory.
type Options struct {
	// VFS names a registered SQLite VFS (github.com/ncruces/go-sqlite3/vfs) to open both files
	// with; "" is the operating system's. The crash tests register one that kills the process
	// at a chosen write.
	VFS string
}

// Open opens (creating when absent) the database in dir and applies the embedded migrations.
func Open(ctx context.Context, dir string) (*DB, error) { return OpenWith(ctx, dir, Options{}) }

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dir string, opt Options) (*DB, error) {
	dataPath := filepath.Join(dir, DataFile)
	keysPath := filepath.Join(dir, KeysFile)
	keysName := keysPath
	if opt.VFS != "" {
		keysName = "file:" + keysPath + "?vfs=" + opt.VFS // a URI (the test VFS's data directory is plain)
	}
	attach := func(c *sqlite3.Conn) error {
		return c.Exec("ATTACH DATABASE " + sqlite3.Quote(keysName) + " AS keystore;" +
			"PRAGMA keystore.journal_mode=WAL; PRAGMA keystore.secure_delete=ON; PRAGMA keystore.synchronous=FULL;")
	}
	// 16 KiB pages (set before the file is created; ignored afterwards) hold a sealed contact row
	// (about 1.5 KiB) with room to spare: about 13% faster imports than 4 KiB, lookups the same.
	// synchronous=FULL syncs each file's log at every commit, data file first: a power cut then
	// leaves the same states as a killed process (see doc.go), never a key store ahead of the data.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=page_size(16384)&_pragma=journal_mode(wal)&_pragma=foreign_keys(on)" +
		"&_pragma=secure_delete(on)&_pragma=synchronous(full)&_pragma=temp_store(memory)"
	if opt.VFS != "" {
		pragmas += "&vfs=" + opt.VFS
	}
	w, err := driver.Open("file:"+dataPath+"?_txlock=immediate&"+pragmas, attach)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{writer: w, sem: make(chan struct{}, 1)}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.ensureMarkers(ctx); err != nil {
		w.Close()
		return nil, err
	}
	// Only the owner may read the files: they hold ciphertext, blind indexes and wrapped keys. The
	// write-ahead logs and shared-memory files hold the same pages; SQLite creates them with the
	// process's umask (0644 under the usual 022), which a data directory readable by others would
	// expose. They exist from the first connection on and are kept while one is open.
	for _, p := range []string{dataPath, keysPath, dataPath + "-wal", dataPath + "-shm", keysPath + "-wal", keysPath + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !(errors.Is(err, fs.ErrNotExist) && p != dataPath && p != keysPath) {
			w.Close()
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	if err := db.prepareBulk(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := driver.Open("file:"+dataPath+"?_txlock=deferred&"+pragmas+"&_pragma=query_only(on)", attach)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	db.reader = r
	db.reads = map[string]*sql.Stmt{}
	for _, q := range []string{qPurposeByID, qGateFacts, qGateFactsFor, qTokenByHash} {
		st, err := r.PrepareContext(ctx, q)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		db.reads[q] = st
	}
	return db, nil
}

// Close closes the database after checkpointing the write-ahead logs.
func (db *DB) Close() error {
	ctx := context.Background()
	_ = db.Checkpoint(ctx)
	for _, s := range db.shapes {
		s.Close()
	}
	for _, s := range db.reads {
		s.Close()
	}
	var errs []error
	if db.watch != nil {
		errs = append(errs, db.watch.Close())
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	errs = append(errs, db.writer.Close())
	return errors.Join(errs...)
}

// Checkpoint copies every committed page into the main files and truncates both write-ahead logs
// (PRAGMA wal_checkpoint(TRUNCATE)). With secure_delete on, no deleted row survives in any file
// afterwards.
func (db *DB) Checkpoint(ctx context.Context) error {
	if err := db.lock(ctx); err != nil {
		return err
	}
	defer db.unlock()
	for _, schema := range []string{"main", "keystore"} {
		var busy, logFrames, done int
		if err := db.writer.QueryRowContext(ctx, "PRAGMA "+schema+".wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("sqlite: checkpoint %s: %w", schema, err)
		}
		if busy != 0 {
			return fmt.Errorf("sqlite: checkpoint %s: a reader held the log; %d of %d frames copied", schema, done, logFrames)
		}
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	if err := db.ensureKeystoreSchema(ctx); err != nil {
		return err
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: name must start with its number", base)
		}
		var n int
		if err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.writer.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, formatTime(time.Now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if v == anchorMACMigration {
			db.anchorUnsealed = true
		}
	}
	return nil
}

// anchorMACMigration is the migration that gave the audit anchor its MAC column.
const anchorMACMigration = 17

// Tx is one read-write transaction. It implements the Tx interfaces of the domain packages.
//
// The head of the audit chain is read from the database by the transaction's first AppendAudit:
// write transactions are IMMEDIATE, so the head cannot move under it, even when another process
// (a CLI command beside a running server) appends to the same log.
type Tx struct {
	db         *DB
	tx         *sql.Tx
	headLoaded bool
	headMoved  bool // an event was appended: the anchor moves at commit
	// keysTouched: a statement wrote the key store; both commit markers move at commit.
	keysTouched bool
	repair      *Repair // what reconcile repaired in this transaction; nil when the files agreed
	headSeq     int64
	headHash    []byte
	stmts       map[string]*sql.Stmt
	purposes    map[string]consent.Purpose // purposes read or written in this transaction
	readOnly    bool                       // a View transaction on the reader pool
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
		return fmt.Errorf("sqlite: audit head: %w", err)
	}
	if tx.db.AnchorMAC != nil && !tx.db.anchorUnsealed {
		want, err := tx.db.AnchorMAC(tx.headSeq, tx.headHash)
		if err != nil {
			return err
		}
		if !hmac.Equal(mac, want) {
			return errAnchorForged
		}
	}
	tx.headLoaded = true
	return nil
}

// errAnchorForged refuses writes over an anchor whose MAC does not verify.
var errAnchorForged = &apperr.Error{Kind: apperr.Unavailable, Reason: "anchor_forged",
	Message: "the audit log's anchor does not verify (tillit audit verify says where); writes are refused until it is investigated"}

// lock takes the process's write lock, or gives up when ctx ends first.
func (db *DB) lock(ctx context.Context) error {
	select {
	case db.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &apperr.Error{Kind: apperr.Unavailable, Message: "database busy", Err: ctx.Err()}
	}
}

func (db *DB) unlock() { <-db.sem }

// Update runs fn in one read-write transaction under the write lock, committing when fn returns
// nil and rolling back otherwise. A split commit found first (reconcile) is repaired and
// committed in a transaction of its own, so that fn failing does not undo the repair.
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := db.lock(ctx); err != nil {
		return err
	}
	defer db.unlock()
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	rep, err := tx.reconcile(ctx)
	if err != nil {
		tx.tx.Rollback()
		return errSplit(err)
	}
	if rep != nil {
		if db.OnRepair != nil {
			db.OnRepair(*rep)
		}
		if err := tx.commit(ctx); err != nil {
			return errSplit(err)
		}
		if tx, err = db.begin(ctx); err != nil {
			return err
		}
		tx.repair = rep
	}
	committed := false
	defer func() {
		// Also on a panic in fn: never leave the writer connection inside a transaction.
		if !committed {
			tx.tx.Rollback()
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

func (db *DB) begin(ctx context.Context) (*Tx, error) {
	sqltx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(fmt.Errorf("sqlite: begin: %w", err))
	}
	return &Tx{db: db, tx: sqltx}, nil
}

// commit moves the anchor and the commit markers as the transaction requires and commits. The
// data file's marker also records the anchor this commit writes, with its MAC: reconcile moves
// the key store's anchor only to that (an event forged in the data file alone is never signed).
// On an error the transaction is rolled back.
func (tx *Tx) commit(ctx context.Context) error {
	if err := tx.moveMarkers(ctx); err != nil {
		tx.tx.Rollback()
		return err
	}
	if err := tx.tx.Commit(); err != nil {
		return translate(fmt.Errorf("sqlite: commit: %w", err))
	}
	tx.db.committed(ctx)
	return nil
}

func (tx *Tx) moveMarkers(ctx context.Context) error {
	var qs []string
	var args [][]any
	if tx.headMoved {
		var mac []byte
		if tx.db.AnchorMAC != nil {
			var err error
			if mac, err = tx.db.AnchorMAC(tx.headSeq, tx.headHash); err != nil {
				return err
			}
		}
		qs = append(qs,
			"INSERT OR REPLACE INTO keystore.audit_anchor (id, seq, hash, mac) VALUES (1, ?, ?, ?)",
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
			return fmt.Errorf("sqlite: audit anchor and commit markers: %w", err)
		}
	}
	return nil
}

// Reconcile repairs a split commit left by a crash (see reconcile) and reports what it did; nil
// when the files agreed. Every write transaction does the same first; commands that only read
// (audit verify) call this after Open so they see the repaired store.
func (db *DB) Reconcile(ctx context.Context) (*Repair, error) {
	var rep *Repair
	err := db.Update(ctx, func(tx *Tx) error {
		rep = tx.repair
		return nil
	})
	return rep, err
}

// committed moves the generation on after a commit of this process. The commit also moves PRAGMA
// data_version on the watch connection, which Generation would otherwise take for another
// process's commit up to PollInterval later and move the generation a second time, dropping what
// the gate cached in between. So the watch's version is read here, under the write lock: any
// other process's commit before this moment is covered by this one step too. When the read fails
// the next poll moves the generation again (safe, only slower).
func (db *DB) committed(ctx context.Context) {
	db.genMu.Lock()
	defer db.genMu.Unlock()
	if db.watch != nil {
		var v int64
		if err := db.watch.QueryRowContext(context.WithoutCancel(ctx), "PRAGMA data_version").Scan(&v); err == nil {
			db.extVersion = v
		}
	}
	db.gen.Add(1)
}

// PollInterval is how often Generation asks SQLite whether another process committed: the
// store contract's bound (store.GenerationLag).
const PollInterval = store.GenerationLag

// Generation returns a number that changes with every commit: at once for this process's own
// commits, and within PollInterval for commits of another process (a CLI import beside a running
// server), seen through PRAGMA data_version on a connection of its own.
func (db *DB) Generation(ctx context.Context) (uint64, error) {
	if time.Now().UnixNano()-db.polled.Load() < int64(PollInterval) {
		return db.gen.Load(), nil
	}
	db.genMu.Lock()
	defer db.genMu.Unlock()
	if time.Now().UnixNano()-db.polled.Load() >= int64(PollInterval) {
		if db.watch == nil {
			c, err := db.reader.Conn(ctx)
			if err != nil {
				return 0, err
			}
			db.watch = c
		}
		var v int64
		if err := db.watch.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			return 0, fmt.Errorf("sqlite: data_version: %w", err)
		}
		if v != db.extVersion {
			db.extVersion = v
			db.gen.Add(1)
		}
		db.polled.Store(time.Now().UnixNano())
	}
	return db.gen.Load(), nil
}

// View runs fn in one read-only transaction on the reader pool: a consistent snapshot that never
// waits for the writer. Only methods that read may be called in it.
func (db *DB) View(ctx context.Context, fn func(*Tx) error) error {
	sqltx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return translate(fmt.Errorf("sqlite: begin read: %w", err))
	}
	defer sqltx.Rollback()
	return fn(&Tx{db: db, tx: sqltx, readOnly: true})
}

// stmt returns a statement prepared once per transaction (an import batch runs the same few
// statements hundreds of times). database/sql closes them when the transaction ends.
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := tx.stmts[query]; ok {
		return s, nil
	}
	if s, ok := tx.db.reads[query]; ok && tx.readOnly {
		// database/sql keeps the statement prepared per connection: after the first use on a
		// reader connection, a transaction there pays nothing to prepare it.
		s = tx.tx.StmtContext(ctx, s)
		if tx.stmts == nil {
			tx.stmts = map[string]*sql.Stmt{}
		}
		tx.stmts[query] = s
		return s, nil
	}
	s, err := tx.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, translate(err)
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[query] = s
	return s, nil
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx.noteWrite(query)
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := s.ExecContext(ctx, args...)
	return res, translate(err)
}

func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryRowContext(ctx, args...), nil
}

func (tx *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := s.QueryContext(ctx, args...)
	return rows, translate(err)
}

// translate maps SQLite errors to apperr kinds by error code.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.ExtendedCode() {
		case sqlite3.CONSTRAINT_UNIQUE, sqlite3.CONSTRAINT_PRIMARYKEY:
			return &apperr.Error{Kind: apperr.Conflict, Reason: "duplicate", Message: "already exists", Err: err}
		}
		switch se.Code() {
		case sqlite3.BUSY, sqlite3.LOCKED:
			return &apperr.Error{Kind: apperr.Unavailable, Message: "database busy", Err: err}
		}
	}
	return err
}

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so stored times compare correctly as
// text in SQL (time.RFC3339Nano drops trailing zeros: "…:00Z" would sort after "…:00.5Z").
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: stored time %q: %w", s, err)
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
