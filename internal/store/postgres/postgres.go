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
//
// Every transaction that wrote ends with a notification on the schema's channel, which names
// the contacts it deleted and the requests whose key it destroyed (sqlstore.GonePayload); each
// node listens, dropping its caches (Generation), waking its jobs (Changed) and telling its
// mail files' sweeper (Gone, TakeGone).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	d := store.Driver{Open: openStore, Parts: func(string) []store.Part { return nil }, Exists: exists, Scratch: scratch}
	store.Register("postgres", d)
	store.Register("postgresql", d)
}

// DB is an open PostgreSQL store.
type DB struct {
	*sqlstore.Base
	pool        *sql.DB
	data, keys  string // schema names
	lockKey     int64  // the advisory lock of write transactions
	gen         atomic.Uint64
	opened      time.Time
	listening   atomic.Bool   // the listener is connected (Generation)
	listenDone  chan struct{} // closed when the listener has stopped
	changed     chan struct{} // a notification arrived (Changed)
	goneMu      sync.Mutex
	gone        store.Gone    // mail-file owners heard of and not yet taken (TakeGone)
	goneDue     chan struct{} // gone holds something (Gone)
	conn        string        // the connection string of the listener and the job lock
	vacuumMu    sync.Mutex
	vacuumSince time.Time     // the oldest Purge not yet followed by a Vacuum
	vacuumDue   chan struct{} // a vacuum of the data tables is asked for (Purge)
	vacuumDone  chan struct{} // closed when the vacuumer has stopped
	stop        context.CancelFunc
	log         *slog.Logger
}

// Config is what Open needs besides the URL.
type Config struct {
	AnchorMAC  func(seq int64, hash []byte) ([]byte, error)
	AnchorMACs func(seq int64, hash []byte) ([][]byte, error) // store.Config.AnchorMACs
	// DataVacuumDelay is how long after an erasure's Purge the data tables are vacuumed;
	// default DefaultDataVacuumDelay.
	DataVacuumDelay time.Duration
	// VacuumCheckInterval is how often the vacuumer checks whether a key was deleted since its
	// last vacuum, by any node, and vacuums when one was; default DataVacuumDelay.
	VacuumCheckInterval time.Duration
	// Logger receives the warnings of the background work (vacuumer, listener, job lock), never
	// personal data; nil: slog.Default().
	Logger *slog.Logger
}

// DefaultDataVacuumDelay bounds how long the dead tuples of an erased person's rows (sealed
// under a key that is gone) stay in the data tables' files.
const DefaultDataVacuumDelay = time.Minute

// MaxSchemaName is the length of the longest data schema name (schema=NAME): the longest name
// made from it, the notification channel tillit_NAME (channel), must fit in MaxIdentifier bytes
// (pg_notify refuses a longer channel name); the key schema NAME_keys is shorter.
const MaxSchemaName = MaxIdentifier - len("tillit_")

// splitURL takes Tillit's own parameter (schema) out of a database URL; pgx would send it to
// the server as a setting. A parameter given more than once is refused, naming it: schema=
// would be the first one (url.Values.Get), and pgx too reads only the first of a repeated
// setting (sslmode=disable&sslmode=require connects without TLS). So is a query that does not
// parse, whose broken pairs url.URL.Query drops (schema=%zz would open schema tillit).
func splitURL(raw string) (conn, schema string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("postgres: the database URL does not parse")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", fmt.Errorf("postgres: the database URL's parameters (after ?) do not parse: write each as name=value, joined by &, with %%XX escapes only for bytes")
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if len(q[k]) > 1 {
			return "", "", fmt.Errorf("postgres: the database URL gives the parameter %q more than once (%d times): give it once", k, len(q[k]))
		}
	}
	schema = q.Get("schema")
	if q.Has("schema") && schema == "" {
		return "", "", fmt.Errorf("postgres: the database URL's schema= is empty: name the schema, or leave the parameter out for the default %q", DefaultSchema)
	}
	if schema == "" {
		schema = DefaultSchema
	}
	if err := checkSchemaName(schema, MaxSchemaName); err != nil {
		if len(schema) > MaxSchemaName {
			err = fmt.Errorf("%w (PostgreSQL keeps names of at most %d bytes, and Tillit also names the key schema NAME_keys and the notification channel tillit_NAME)", err, MaxIdentifier)
		}
		return "", "", fmt.Errorf("%w: set schema= in the database URL", err)
	}
	q.Del("schema")
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

// ParseURL splits a database URL of this backend (postgres://…?schema=NAME) into the
// connection string pgx is given (schema taken out, search_path set to the data schema) and the
// names of the data schema (NAME, default "tillit") and the key schema (NAME_keys).
func ParseURL(raw string) (conn, data, keys string, err error) {
	conn, data, err = splitURL(raw)
	if err != nil {
		return "", "", "", err
	}
	return conn, data, data + "_keys", nil
}

// DefaultSchema is the data schema of a database URL without schema=.
const DefaultSchema = "tillit"

// WriterLock is the key of the advisory lock every write transaction on the store in data
// schema takes first (Update). A session that holds it keeps every node's writes waiting.
func WriterLock(data string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tillit-writer:" + data))
	return int64(h.Sum64())
}

func openStore(ctx context.Context, location string, cfg store.Config) (store.Store, error) {
	db, err := Open(ctx, location, Config{AnchorMAC: cfg.AnchorMAC, AnchorMACs: cfg.AnchorMACs, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// copyFinished refuses a schema that holds a copy tillit migrate-store began and did not finish
// (its migrate_source row has no finished_at): served, it would hold a fraction of the people,
// look new (a new admin token), and the copy could not resume once written to.
func copyFinished(ctx context.Context, pool *sql.DB, schema string) error {
	var unfinished bool
	err := pool.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, quoteIdent(schema)+".migrate_source").Scan(&unfinished)
	if err != nil || !unfinished {
		return err
	}
	err = pool.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+quoteIdent(schema)+".migrate_source WHERE finished_at IS NULL)").Scan(&unfinished)
	if err == nil && unfinished {
		err = fmt.Errorf("postgres: schema %s holds a copy tillit migrate-store began and did not finish: run the same migrate-store command again to finish it", schema)
	}
	return err
}

// exists reports whether the schema rawURL names holds a migrated store.
func exists(ctx context.Context, rawURL string) (bool, error) {
	conn, schema, err := splitURL(rawURL)
	if err != nil {
		return false, err
	}
	pool, err := sql.Open("pgx", conn)
	if err != nil {
		return false, fmt.Errorf("postgres: open: %w", err)
	}
	defer pool.Close()
	var found bool
	err = pool.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", quoteIdent(schema)+".schema_migrations").Scan(&found)
	if err != nil {
		return false, fmt.Errorf("postgres: connect: %w", err)
	}
	return found, nil
}

// scratch notes which of the two schemas rawURL names (data and key) exist and returns a
// function that drops the others, with everything in them (store.Driver.Scratch). A schema that
// was there is kept, and so are the tables a store made in it.
func scratch(ctx context.Context, rawURL string) (func(context.Context) error, error) {
	conn, data, err := splitURL(rawURL)
	if err != nil {
		return nil, err
	}
	pool, err := sql.Open("pgx", conn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	defer pool.Close()
	var absent []string
	for _, schema := range []string{data, data + "_keys"} {
		var there bool
		if err := pool.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&there); err != nil {
			return nil, fmt.Errorf("postgres: connect: %w", err)
		}
		if !there {
			absent = append(absent, schema)
		}
	}
	return func(ctx context.Context) error {
		pool, err := sql.Open("pgx", conn)
		if err != nil {
			return fmt.Errorf("postgres: open: %w", err)
		}
		defer pool.Close()
		for _, schema := range absent {
			if _, err := pool.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+quoteIdent(schema)+" CASCADE"); err != nil {
				return fmt.Errorf("postgres: drop schema %s: %w", schema, err)
			}
		}
		return nil
	}, nil
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
	db := &DB{pool: pool, data: schema, keys: schema + "_keys", lockKey: WriterLock(schema), log: cfg.Logger}
	if db.log == nil {
		db.log = slog.Default()
	}
	db.Base = &sqlstore.Base{Dialect: dialect(db.data, db.keys), Reader: pool, AnchorMAC: cfg.AnchorMAC, AnchorMACs: cfg.AnchorMACs}
	db.Dialect.Notify = "SELECT pg_notify('" + channel(db.data) + "', $1)"
	db.Committed = func(context.Context) { db.gen.Add(1) }
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := serverSupported(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if err := copyFinished(ctx, pool, db.data); err != nil {
		pool.Close()
		return nil, err
	}
	if err := Migrate(ctx, pool, db.data, db.keys); err != nil {
		pool.Close()
		return nil, err
	}
	delay := cfg.DataVacuumDelay
	if delay <= 0 {
		delay = DefaultDataVacuumDelay
	}
	var vctx context.Context
	vctx, db.stop = context.WithCancel(context.Background())
	db.vacuumDue, db.vacuumDone = make(chan struct{}, 1), make(chan struct{})
	// A node that died between an erasure's commit and its Purge, or stopped before the vacuum
	// it asked for, left dead tuples no one else knows of: every start vacuums once, and the
	// nodes running check for deleted keys every VacuumCheckInterval (vacuumer).
	db.vacuumSince = time.Now()
	db.vacuumDue <- struct{}{}
	interval := cfg.VacuumCheckInterval
	if interval <= 0 {
		interval = delay
	}
	go db.vacuumer(vctx, delay, interval)
	db.opened, db.listenDone, db.changed, db.conn = time.Now(), make(chan struct{}), make(chan struct{}, 1), conn
	db.goneDue = make(chan struct{}, 1)
	go db.listen(vctx, conn)
	return db, nil
}

// MinServerVersion is the oldest PostgreSQL a store opens on (server_version_num): the job
// lock's session relies on idle_session_timeout (14) to end when its leader falls silent.
const MinServerVersion = 140000

// serverSupported refuses a server older than MinServerVersion, naming both versions.
func serverSupported(ctx context.Context, pool *sql.DB) error {
	var num int
	var version string
	if err := pool.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int, current_setting('server_version')").Scan(&num, &version); err != nil {
		return fmt.Errorf("postgres: server version: %w", err)
	}
	if num < MinServerVersion {
		return fmt.Errorf("postgres: the server is PostgreSQL %s; Tillit needs PostgreSQL %d or later", version, MinServerVersion/10000)
	}
	return nil
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
	return translateRest(db.Run(ctx, begin, func(tx *sqlstore.Tx) error { return fn(tx) }))
}

// View runs fn in a read-only REPEATABLE READ transaction: one snapshot, never waiting.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	sqltx, err := db.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return translate(fmt.Errorf("postgres: begin read: %w", err))
	}
	defer sqltx.Rollback()
	return translateRest(fn(db.NewTx(sqltx, true)))
}

// Purge vacuums the key store's tables at once, so that no live or dead tuple of an erased
// person's data key remains in the table files (GDPR Art. 17: what the person's fields were
// sealed with is gone, so what remains of them is unreadable), and asks the vacuumer for a
// vacuum of the key and data tables within Config.DataVacuumDelay (Vacuum), which removes the
// dead tuples of the erased rows themselves (ciphertext, keyed hashes). The data tables wait
// because vacuuming them costs in proportion to their size (0.3 s for a million contacts), so
// erasures close together share one. PostgreSQL keeps a dead tuple while a transaction older
// than its deletion is open in the database; the vacuumer waits for those first. VACUUM
// cannot run inside a transaction.
func (db *DB) Purge(ctx context.Context) error {
	if err := db.vacuum(ctx, keyTables, db.keys); err != nil {
		return err
	}
	var now time.Time
	if err := db.pool.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
		return fmt.Errorf("postgres: purge: %w", err)
	}
	db.vacuumMu.Lock()
	if db.vacuumSince.IsZero() || now.Before(db.vacuumSince) {
		db.vacuumSince = now
	}
	db.vacuumMu.Unlock()
	select {
	case db.vacuumDue <- struct{}{}:
	default: // one is due already
	}
	return nil
}

// keyTables are the key schema's tables whose dead tuples Purge removes.
var keyTables = []string{"contact_keys", "audit_anchor"}

// dataTables are the tables of the data schema that hold personal rows (sqlstore.PersonalTables),
// sorted.
func dataTables() []string {
	var out []string
	for _, t := range sqlstore.PersonalTables() {
		if !strings.Contains(t.Table, ".") && !slices.Contains(out, t.Table) {
			out = append(out, t.Table)
		}
	}
	slices.Sort(out)
	return out
}

// vacuum vacuums tables of schema, index entries included (INDEX_CLEANUP ON: PostgreSQL skips
// the indexes of a large table with few dead tuples otherwise, and the email and phone indexes
// would keep an erased person's keyed hashes).
func (db *DB) vacuum(ctx context.Context, tables []string, schema string) error {
	for _, t := range tables {
		if _, err := db.pool.ExecContext(ctx, "VACUUM (INDEX_CLEANUP ON) "+quoteIdent(schema)+"."+quoteIdent(t)); err != nil {
			return fmt.Errorf("postgres: vacuum %s: %w", t, err)
		}
	}
	return nil
}

// olderTransactions counts the transactions of the server, other than the asking one, that
// began before $1 and hold a snapshot (backend_xmin) or a transaction id (backend_xid: one that
// wrote and sits between statements holds no snapshot, yet PostgreSQL keeps every tuple deleted
// after it began). Those of other databases count too: a snapshot taken in this database after
// the erasure still starts at the oldest transaction id running anywhere on the server, and
// VACUUM keeps what such a snapshot may see. (Prepared transactions and replication slots hold
// dead tuples back as well; Tillit makes neither.)
const olderTransactions = `SELECT count(*) FROM pg_stat_activity
	WHERE pid <> pg_backend_pid() AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start < $1`

// Vacuum waits until no transaction that began before since is open (a dead tuple such a
// transaction may still see cannot be removed; olderTransactions), then rewrites the key tables
// (rewriteKeyTables) and vacuums every data table that holds personal rows. It gives up waiting
// after maxWait and vacuums the data tables anyway, leaving the rewrite, which would keep what
// an older transaction may see, for the next time. It reports whether everything was done:
// nothing older than since was left and the key tables were rewritten.
func (db *DB) Vacuum(ctx context.Context, since time.Time, maxWait time.Duration) (bool, error) {
	clear := false
	for deadline := time.Now().Add(maxWait); ; {
		var older int
		err := db.pool.QueryRowContext(ctx, olderTransactions, since).Scan(&older)
		if err != nil {
			return false, fmt.Errorf("postgres: vacuum: %w", err)
		}
		if clear = older == 0; clear || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if clear {
		var err error
		if clear, err = db.rewriteKeyTables(ctx); err != nil {
			return false, err
		}
	}
	return clear, db.vacuum(ctx, dataTables(), db.data)
}

// rewriteLockTimeout is how long the rewrite of a key table waits for its lock. VACUUM FULL
// takes an ACCESS EXCLUSIVE lock, and while it waits, every later request for the table (every
// node's reads of data keys, every write) queues behind it: behind a long reader such as a
// pg_dump the whole cluster would stall until the dump ends.
const rewriteLockTimeout = "500ms"

// rewriteKeyTables rewrites the key tables (VACUUM FULL) on a connection of its own whose lock
// waits end after rewriteLockTimeout. VACUUM compacts a page without overwriting its free
// space, so the bytes of the newest tuple on a page (a wrapped key) stay in the file until the
// page is written over; VACUUM FULL writes a new file and unlinks the old (about a second per
// million keys). It reports false, and rewrites nothing more, when a lock was not had in time.
func (db *DB) rewriteKeyTables(ctx context.Context) (bool, error) {
	cfg, err := pgx.ParseConfig(db.conn)
	if err != nil {
		return false, fmt.Errorf("postgres: vacuum full: %w", err)
	}
	cfg.RuntimeParams["lock_timeout"] = rewriteLockTimeout
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("postgres: vacuum full: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	for _, t := range keyTables {
		if _, err := c.Exec(ctx, "VACUUM FULL "+quoteIdent(db.keys)+"."+quoteIdent(t)); err != nil {
			if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
				return false, nil
			}
			return false, fmt.Errorf("postgres: vacuum full %s: %w", t, err)
		}
	}
	return true, nil
}

// keyDeletions reads the rows of the key schema's contact_keys deleted or updated since the
// server's statistics began (pg_stat_user_tables: every backend reports its counts within
// seconds of a commit, and one that ends reports them as it ends), with the server's clock.
// Every erasure deletes a data key, so a change of the count is a dead tuple of a wrapped key,
// on whichever node it was. Inserts are left out: a key is inserted for every new person, and
// a vacuum each time would lock the key tables (VACUUM FULL) every interval on a busy
// installation; so are audit_anchor's updates, which every audited write makes and whose dead
// tuples hold old hashes of the chain's head, nothing of a person. The count only grows while
// the statistics last; a reset (pg_stat_reset, a crash) changes it too, and costs one vacuum.
const keyDeletions = `SELECT coalesce((SELECT n_tup_del + n_tup_upd FROM pg_stat_user_tables
	WHERE schemaname = $1 AND relname = 'contact_keys'), 0), clock_timestamp()`

// vacuumer runs Vacuum DataVacuumDelay after a Purge asked for it (the erasures in between
// share it), and at once when a check every VacuumCheckInterval finds keys deleted since its
// last vacuum (keyDeletions), which covers an erasure whose node died before its Purge or
// before the vacuum it asked for, while the other nodes run on. It stops when ctx ends. When a
// transaction older than the erasure outlives a minute's wait, or the vacuum fails, it is
// asked for again.
func (db *DB) vacuumer(ctx context.Context, delay, interval time.Duration) {
	defer close(db.vacuumDone)
	check := time.NewTicker(interval)
	defer check.Stop()
	var seen int64 // keyDeletions at the start of the last vacuum that was clear
	known := false
	for {
		var since time.Time
		var deleted int64
		var err error // of keyDeletions
		select {
		case <-ctx.Done():
			return
		case <-db.vacuumDue:
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			db.vacuumMu.Lock()
			since = db.vacuumSince
			db.vacuumSince = time.Time{}
			db.vacuumMu.Unlock()
			// Read before the vacuum: a key deleted during it is seen by the next check.
			deleted, _, err = db.keyDeletions(ctx)
		case <-check.C:
			deleted, since, err = db.keyDeletions(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				db.log.Warn("postgres: the check for deleted keys failed; it is repeated", "err", err)
				continue
			}
			if known && deleted == seen {
				continue
			}
		}
		counted := err == nil
		clear, err := db.Vacuum(ctx, since, time.Minute)
		if ctx.Err() != nil {
			return
		}
		if err == nil && clear && counted {
			seen, known = deleted, true
		}
		if err != nil || !clear {
			db.log.Warn("postgres: the vacuum after an erasure is repeated: a transaction older than the erasure is still open, or the vacuum failed", "err", err)
			db.vacuumMu.Lock()
			if db.vacuumSince.IsZero() || since.Before(db.vacuumSince) {
				db.vacuumSince = since
			}
			db.vacuumMu.Unlock()
			select {
			case db.vacuumDue <- struct{}{}:
			default:
			}
		}
	}
}

// keyDeletions runs keyDeletions.
func (db *DB) keyDeletions(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var now time.Time
	if err := db.pool.QueryRowContext(ctx, keyDeletions, db.keys).Scan(&n, &now); err != nil {
		return 0, time.Time{}, fmt.Errorf("postgres: deleted keys: %w", err)
	}
	return n, now, nil
}

// GenerationTTL is the longest a cache keyed by Generation lives, whatever the listener heard.
const GenerationTTL = time.Second

// Generation changes with every commit of this process at once, with every commit of another
// node on the same schema when its notification arrives (the listener: LISTEN on the schema's
// channel, Dialect.Notify), and every GenerationTTL in any case, so that caches of keys,
// consent facts and tokens are dropped on every node within a second of an erasure or a
// withdrawal. While the listener is not connected it changes on every call: nothing is cached.
func (db *DB) Generation(ctx context.Context) (uint64, error) {
	ticks := uint64(time.Since(db.opened) / GenerationTTL)
	if !db.listening.Load() {
		return db.gen.Add(1) + ticks, nil
	}
	return db.gen.Load() + ticks, nil
}

// channel is the notification channel of the schema's commits.
func channel(schema string) string { return "tillit_" + schema }

// listen keeps a connection that LISTENs on the schema's channel until ctx ends, moving the
// generation for every notification and for every (re)connection; it reconnects after a
// second when the connection is lost.
func (db *DB) listen(ctx context.Context, conn string) {
	defer close(db.listenDone)
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, conn)
		db.listening.Store(false)
		db.gen.Add(1)
		if ctx.Err() != nil {
			return
		}
		db.log.Warn("postgres: the listener for other nodes' commits lost its connection; caches are off until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, conn string) error {
	c, err := pgx.Connect(ctx, conn)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, "LISTEN "+quoteIdent(channel(db.data))); err != nil {
		return err
	}
	db.gen.Add(1)                     // what committed while no one listened
	db.addGone(store.Gone{All: true}) // what was made gone while no one listened
	db.listening.Store(true)
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		db.gen.Add(1)
		if n.Payload != "" {
			db.addGone(sqlstore.ParseGonePayload(n.Payload))
		}
		select {
		case db.changed <- struct{}{}:
		default:
		}
	}
}

// Ready answers GET /readyz (sqlstore.Ready).
func (db *DB) Ready(ctx context.Context, wait time.Duration) store.Readiness {
	return sqlstore.Ready(ctx, wait, func(ctx context.Context, fn func(*sqlstore.Tx) error) error {
		return db.Update(ctx, func(tx store.Tx) error { return fn(tx.(*sqlstore.Tx)) })
	})
}

// Close stops the vacuumer (a vacuum asked for and not yet run is left to autovacuum) and
// closes the pool.
func (db *DB) Close() error {
	db.stop()
	<-db.vacuumDone
	<-db.listenDone
	db.Base.Close()
	return db.pool.Close()
}

// LeadPoll is how often a node that does not lead tries the job lock, and how often the leader
// checks that the lock's connection is alive.
const LeadPoll = time.Second

// Lead blocks until this node holds the schema's job lock (a session-level advisory lock on a
// connection of its own), then returns a context that ends when that connection fails or ctx
// ends, releasing the lock (store.Cluster). A node that dies releases it with its connection,
// so another leads within LeadPoll.
func (db *DB) Lead(ctx context.Context) (context.Context, error) {
	for {
		if lctx, ok := db.TryLead(ctx); ok {
			return lctx, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(LeadPoll):
		}
	}
}

// TryLead is one attempt of Lead: the lead's context and true when this node took the job lock
// now, false when another node holds it (or the attempt failed).
func (db *DB) TryLead(ctx context.Context) (context.Context, bool) {
	h := fnv.New64a()
	h.Write([]byte("tillit-jobs:" + db.data))
	key := int64(h.Sum64())
	cfg, err := pgx.ParseConfig(db.conn)
	if err != nil {
		return nil, false
	}
	maps.Copy(cfg.RuntimeParams, leadSession)
	tctx, cancel := context.WithTimeout(ctx, LeadPingTimeout)
	defer cancel()
	c, err := pgx.ConnectConfig(tctx, cfg)
	if err != nil {
		return nil, false
	}
	var held bool
	if err = c.QueryRow(tctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&held); err == nil && held {
		lctx, lost := context.WithCancel(ctx)
		go db.holdLead(lctx, lost, c)
		return lctx, true
	}
	c.Close(context.WithoutCancel(ctx))
	return nil, false
}

// LeadPingTimeout bounds the leader's check of its lock's connection (and the attempt to take
// the lock): a leader whose network is cut stops its jobs within LeadPoll + LeadPingTimeout.
const LeadPingTimeout = 3 * time.Second

// leadSession are the settings of the job lock's session. A machine that loses power or its
// network closes no connection, and PostgreSQL would keep the session, and the lock, until
// TCP keepalive gives up (two hours by the system's default). The leader asks something every
// LeadPoll; the server ends a session idle for 10 s (idle_session_timeout, PostgreSQL 14: also
// when something between them still answers TCP, as a proxy does), probes an idle connection
// after 5 s and drops it after 3 unanswered probes 2 s apart, and drops one whose sent data
// stays unacknowledged for 10 s. Another node so leads within about 15 s, after the old leader
// stopped (LeadPoll + LeadPingTimeout).
var leadSession = map[string]string{
	"idle_session_timeout": "10s",
	"tcp_keepalives_idle":  "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3", "tcp_user_timeout": "10000",
}

// holdLead checks the lock's connection every LeadPoll and ends the lead (lost) when it fails,
// does not answer within LeadPingTimeout, or ctx ends; closing the connection releases the lock.
func (db *DB) holdLead(ctx context.Context, lost context.CancelFunc, c *pgx.Conn) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), LeadPingTimeout)
		defer cancel()
		c.Close(cctx)
	}()
	defer lost()
	t := time.NewTicker(LeadPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, LeadPingTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					db.log.Warn("postgres: the job lock's connection failed; this node stops its background jobs until it leads again", "err", err)
				}
				return
			}
		}
	}
}

// Changed receives after a node (this one included) commits a write (store.Cluster).
func (db *DB) Changed() <-chan struct{} { return db.changed }

var _ store.Cluster = (*DB)(nil)

// maxGone bounds the owners TakeGone keeps between two calls; past it they are All.
const maxGone = 100_000

// Gone receives, coalesced, after a node (this one included) commits the deletion of a contact
// (an erasure) or the destruction of a request's key, and when the listener (re)connects, which
// may have missed some: TakeGone then says which. Every node's mail files of those owners are to
// go (internal/app).
func (db *DB) Gone() <-chan struct{} { return db.goneDue }

// TakeGone returns the owners made gone since the last call (store.Gone; All after the listener
// connected, or when a commit or the backlog named too many) and forgets them.
func (db *DB) TakeGone() store.Gone {
	db.goneMu.Lock()
	defer db.goneMu.Unlock()
	g := db.gone
	db.gone = store.Gone{}
	return g
}

func (db *DB) addGone(g store.Gone) {
	if g.Empty() {
		return
	}
	db.goneMu.Lock()
	db.gone.Add(g, maxGone)
	db.goneMu.Unlock()
	select {
	case db.goneDue <- struct{}{}:
	default:
	}
}

// ErasureMeasure is what an erasure leaves on PostgreSQL, for the record of processing.
func (db *DB) ErasureMeasure() string {
	return "PostgreSQL: the person's data key deleted in the erasure's transaction and the key tables vacuumed at once; " +
		"their other rows (sealed under that key) vacuumed within a minute; write-ahead log and backups keep them until recycled or expired"
}
