package sqlite

import (
	"context"
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
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Files in the data directory.
const (
	DataFile = "tillit.db"
	KeysFile = "keys.db"
)

// DB is an open Tillit database: the data file with the key store attached. It embeds the
// shared SQL (sqlstore.Base): AnchorMAC and OnRepair are set right after Open, before use.
type DB struct {
	*sqlstore.Base
	writer *sql.DB // one connection: every read-write transaction
	reader *sql.DB // a small pool for reads (View, audit verify)

	sem chan struct{} // the write lock: held for the whole of every write transaction in this process
	// gen counts this process's commits; extVersion and polled track other processes' commits
	// (PRAGMA data_version on watch), see Generation.
	gen        atomic.Uint64
	genMu      sync.Mutex
	watch      *sql.Conn
	extVersion int64
	polled     atomic.Int64 // unix nanoseconds of the last data_version poll

	plain []string // the files not encrypted (PlainFiles)
	purge purger   // a purge a long reader held back (Purge)
}

// Tx is one read-write or read-only transaction: the shared SQL's.
type Tx = sqlstore.Tx

// dialect is SQLite's: statements run as written, prepared per transaction.
var dialect = sqlstore.Dialect{Name: "sqlite", Translate: translate, IsConstraint: isConstraint, Prepare: true}

// Options are the settings of Open that are not the data directory.
type Options struct {
	// VFS names a registered SQLite VFS (github.com/ncruces/go-sqlite3/vfs) to open both files
	// with; "" is the operating system's. The crash tests register one that kills the process
	// at a chosen write. An encrypted file is opened through the Adiantum VFS over it.
	VFS string
	// Keys are the disk keys (KeySize bytes each) the files may be encrypted under, the one new
	// files get first; none: new files are plain. Each file opens under the key its first block
	// opens with, or plain when it starts with SQLite's header (see disk.go).
	Keys [][]byte
}

// Open opens (creating when absent) the database in dir and applies the embedded migrations.
func Open(ctx context.Context, dir string) (*DB, error) { return OpenWith(ctx, dir, Options{}) }

// connPragmas are run on every connection of OpenWith, after the key. 16 KiB pages (set before
// the file is created; ignored afterwards) hold a sealed contact row (about 1.5 KiB) with room to
// spare: about 13% faster imports than 4 KiB, lookups the same. synchronous=FULL syncs each
// file's log at every commit, data file first: a power cut then leaves the same states as a
// killed process (see doc.go), never a key store ahead of the data. temp_store=memory keeps
// temporary tables and indexes out of files (which the Adiantum VFS would encrypt under a
// random key: safe, but slower).
const connPragmas = "PRAGMA busy_timeout=10000; PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;" +
	"PRAGMA secure_delete=ON; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"

// keystorePragmas are connPragmas's for the attached key store.
const keystorePragmas = "PRAGMA keystore.journal_mode=WAL; PRAGMA keystore.secure_delete=ON; PRAGMA keystore.synchronous=FULL;"

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dir string, opt Options) (*DB, error) {
	if err := settle(dir); err != nil {
		return nil, err
	}
	dataPath := filepath.Join(dir, DataFile)
	keysPath := filepath.Join(dir, KeysFile)
	data, err := openFile(dataPath, opt.Keys, opt.VFS)
	if err != nil {
		return nil, err
	}
	keys, err := openFile(keysPath, opt.Keys, opt.VFS)
	if err != nil {
		return nil, err
	}
	before := []fs.FileInfo{stat(dataPath), stat(keysPath)}
	// Every setting is a statement on the new connection, the key first: settings in the URI
	// would run before it, and a URI can end up in an error message.
	// extra runs last, after the key store is attached.
	connect := func(extra string) func(c *sqlite3.Conn) error {
		return func(c *sqlite3.Conn) error {
			if err := data.redact(c.Exec(data.keyPragma() + connPragmas)); err != nil {
				return err
			}
			if err := keys.attach(c, "keystore", ""); err != nil {
				return err
			}
			return c.Exec(keystorePragmas + extra)
		}
	}
	// Every page SQLite reads from an encrypted file is decrypted again: the writer keeps more of
	// them (32 MiB per file instead of 2 MiB), which took a third off the CPU time of an import
	// of 100,000 contacts into encrypted files (README, Performance) for 32 MiB more memory.
	writerCache := ""
	if data.key != nil || keys.key != nil {
		writerCache = "PRAGMA main.cache_size=-32768; PRAGMA keystore.cache_size=-32768;"
	}
	w, err := driver.Open(data.uri("_txlock=immediate"), connect(writerCache))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{Base: &sqlstore.Base{Dialect: dialect}, writer: w, sem: make(chan struct{}, 1)}
	for _, f := range []file{data, keys} {
		if f.key == nil {
			db.plain = append(db.plain, f.path)
		}
	}
	db.Committed = db.committed
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.ensureMarkers(ctx); err != nil {
		w.Close()
		return nil, err
	}
	// A conversion (Reseal) swaps new files in while holding the old ones' locks: a process
	// that opened the old files meanwhile got their locks only after the swap, on files no
	// longer in the directory, where its writes would be lost. It started too early.
	for i, p := range []string{dataPath, keysPath} {
		if before[i] != nil && !os.SameFile(before[i], stat(p)) {
			w.Close()
			return nil, fmt.Errorf("sqlite: %s was replaced while it was being opened (tillit keys encrypt-disk or rotate --disk finished meanwhile): start again", p)
		}
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
	if err := db.PrepareBulk(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := driver.Open(data.uri("_txlock=deferred"), connect("PRAGMA query_only=ON;"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	db.reader, db.Reader = r, r
	if err := db.PrepareReads(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// PlainFiles returns the paths of the store's files that are not encrypted: none when both are.
func (db *DB) PlainFiles() []string { return db.plain }

// stat returns the file's information, nil when it cannot be had (it does not exist).
func stat(path string) fs.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}

// Close closes the database after checkpointing the write-ahead logs.
func (db *DB) Close() error {
	ctx := context.Background()
	db.stopPurger()
	_ = db.Checkpoint(ctx)
	db.Base.Close()
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
// afterwards. It waits up to busy_timeout for readers; one that holds a log longer is an error.
func (db *DB) Checkpoint(ctx context.Context) error {
	if err := db.lock(ctx); err != nil {
		return err
	}
	defer db.unlock()
	return db.checkpointLocked(ctx)
}

// errLogHeld is checkpointLocked's answer when a reader held a log past busy_timeout.
var errLogHeld = errors.New("sqlite: checkpoint: a reader held the write-ahead log")

// checkpointLocked is Checkpoint under the write lock the caller holds.
func (db *DB) checkpointLocked(ctx context.Context) error {
	for _, schema := range []string{"main", "keystore"} {
		var busy, logFrames, done int
		if err := db.writer.QueryRowContext(ctx, "PRAGMA "+schema+".wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("sqlite: checkpoint %s: %w", schema, err)
		}
		if busy != 0 {
			return errLogHeld
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, sqlstore.FormatTime(time.Now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if v == anchorMACMigration {
			db.AnchorUnsealed = true
		}
	}
	return nil
}

// anchorMACMigration is the migration that gave the audit anchor its MAC column.
const anchorMACMigration = 17

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

// Update runs fn in one read-write transaction (BEGIN IMMEDIATE) under the write lock,
// committing when fn returns nil and rolling back otherwise; a split commit found first is
// repaired in a transaction of its own (sqlstore.Base.Run).
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := db.lock(ctx); err != nil {
		return err
	}
	defer db.unlock()
	return db.Run(ctx, func(ctx context.Context) (*sql.Tx, error) { return db.writer.BeginTx(ctx, nil) }, fn)
}

// Reconcile repairs a split commit left by a crash (see reconcile) and reports what it did; nil
// when the files agreed. Every write transaction does the same first; commands that only read
// (audit verify) call this after Open so they see the repaired store.
func (db *DB) Reconcile(ctx context.Context) (*Repair, error) {
	var rep *Repair
	err := db.Update(ctx, func(tx *Tx) error {
		rep = tx.Repaired()
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
	return fn(db.NewTx(sqltx, true))
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

// isConstraint reports a constraint violation (SQLITE_CONSTRAINT and its extended codes).
func isConstraint(err error) bool {
	var se *sqlite3.Error
	return errors.As(err, &se) && se.Code() == sqlite3.CONSTRAINT
}
