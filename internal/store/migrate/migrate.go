package migrate

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/postgres"
)

// DefaultBatch is how many rows one destination transaction copies unless Options.Batch says
// otherwise.
const DefaultBatch = 1000

// Options say what Run moves and how.
type Options struct {
	// From names the SQLite store: "sqlite:DIR", "sqlite://DIR" or DIR, the data directory
	// whose tillit.db and keys.db are copied. No other process may have them open.
	From string
	// To names the PostgreSQL store: "postgres://…?schema=NAME" (store/postgres), whose two
	// schemas (NAME, NAME_keys) must hold no store yet, or this copy interrupted.
	To string
	// AnchorMAC is the installation's audit anchor key (keys.Keyring.AnchorMAC): the source is
	// opened with it, and the destination's chain is verified under it. Required.
	AnchorMAC func(seq int64, hash []byte) ([]byte, error)
	// AnchorMACs lists every MAC the source's and destination's anchors verify under
	// (keys.Keyring.AnchorMACs, store.Config.AnchorMACs); nil: AnchorMAC's.
	AnchorMACs func(seq int64, hash []byte) ([][]byte, error)
	// DiskKeys are the installation's disk keys (keys.Keyring.DiskKeys), which the source's
	// files may be encrypted under (store.Config.DiskKeys).
	DiskKeys [][]byte
	// Batch is the number of rows per destination transaction (default DefaultBatch).
	Batch int
	// Progress receives one line per table now and then ("contacts: 12000/100000 rows (12%)");
	// nil: none.
	Progress io.Writer
	// AfterBatch, when set, is called after each committed batch with the table and the rows of
	// it copied so far; an error it returns stops Run with that error, as a kill would stop it
	// (the tests' interruption point).
	AfterBatch func(table string, rows int64) error
}

// Summary is what Run did, printed as JSON by tillit migrate-store.
type Summary struct {
	From          string             `json:"from"`
	To            string             `json:"to"` // a password in the URL redacted
	Tables        []TableCount       `json:"tables"`
	Rows          int64              `json:"rows"`    // rows in the destination, every table
	Copied        int64              `json:"copied"`  // rows this run copied (fewer after an interruption)
	Resumed       bool               `json:"resumed"` // an interrupted copy was continued
	Audit         audit.Verification `json:"audit"`   // the destination's audit chain
	Verified      bool               `json:"verified"`
	Seconds       float64            `json:"seconds"`
	RowsPerSecond float64            `json:"rows_per_second"` // Copied over the copy's time
}

// TableCount is one table's row count, equal in source and destination.
type TableCount struct {
	Table string `json:"table"` // "contacts", or "keystore.contact_keys" for the key store's
	Rows  int64  `json:"rows"`
}

// run is one Run's state.
type run struct {
	opt    Options
	src    *source
	dst    *dest
	tables []*table
	sum    Summary
	shown  time.Time // when the last progress line was written
}

// Run copies the SQLite store opt.From names into the PostgreSQL store opt.To names, or
// continues a copy that was interrupted, and verifies the result (see the package doc). It
// returns the Summary when every table's rows and the audit chain verify, and an error
// otherwise; nothing in the source is changed beyond what opening it as every command does
// changes (a repair after a crash).
func Run(ctx context.Context, opt Options) (Summary, error) {
	start := time.Now()
	dir, err := sourceDir(opt.From)
	if err != nil {
		return Summary{}, err
	}
	if !strings.HasPrefix(opt.To, "postgres://") && !strings.HasPrefix(opt.To, "postgresql://") {
		return Summary{}, fmt.Errorf("the destination must be a postgres:// URL, such as postgres://user@host/db?schema=tillit")
	}
	if opt.AnchorMAC == nil {
		return Summary{}, fmt.Errorf("migrate: Options.AnchorMAC is required")
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if err := checkSource(ctx, dir, opt.AnchorMAC, opt.AnchorMACs, opt.DiskKeys); err != nil {
		return Summary{}, err
	}
	r := &run{opt: opt, sum: Summary{From: "sqlite:" + dir, To: redact(opt.To)}}
	if r.src, err = openSource(ctx, dir, opt.DiskKeys); err != nil {
		return Summary{}, err
	}
	defer r.src.close()
	if r.dst, err = openDest(ctx, opt.To); err != nil {
		return Summary{}, err
	}
	defer r.dst.close()
	finished, err := r.begin(ctx)
	if err != nil {
		return Summary{}, err
	}
	copyStart := time.Now()
	if !finished {
		var rows int64
		for _, t := range r.tables {
			rows += t.total
		}
		r.say("copying %d rows of %d tables from %s to schemas %s and %s", rows, len(r.tables), r.sum.From, r.dst.data, r.dst.keys)
		if err := r.copyAll(ctx); err != nil {
			return r.sum, err
		}
	}
	copyTime := time.Since(copyStart)
	r.say("verifying: every table's rows on both sides, then the audit chain")
	if err := r.verify(ctx); err != nil {
		return r.sum, err
	}
	r.sum.Seconds = time.Since(start).Seconds()
	if s := copyTime.Seconds(); s > 0 {
		r.sum.RowsPerSecond = float64(r.sum.Copied) / s
	}
	return r.sum, nil
}

// sourceDir is the data directory from names.
func sourceDir(from string) (string, error) {
	dir := from
	if rest, ok := strings.CutPrefix(from, "sqlite:"); ok {
		dir = strings.TrimPrefix(rest, "//")
	} else if i := strings.Index(from, "://"); i > 0 {
		return "", fmt.Errorf("the source must be a SQLite data directory (sqlite:DIR), not %s", from[:i])
	}
	if dir == "" {
		return "", fmt.Errorf("the source names no directory (sqlite:DIR)")
	}
	return dir, nil
}

// redact hides the secrets of a database URL (config.RedactURL).
func redact(raw string) string { return config.RedactURL(raw) }

// begin decides, from what the destination holds, whether this run copies from the start,
// continues an interrupted copy of the same source, or finds the copy finished (true), and
// refuses anything else; then migrates the destination, checks that both sides are at the same
// version and have the same tables, and records the source.
func (r *run) begin(ctx context.Context) (finished bool, err error) {
	installation, state, err := r.src.identity(ctx)
	if err != nil {
		return false, err
	}
	f, err := r.dst.inspect(ctx)
	if err != nil {
		return false, err
	}
	// The rows the destination's migrations put there (commit markers, the webhook cursor) are
	// no store's. Where no store is yet, they are what Migrate leaves; elsewhere a scratch run
	// of the migrations tells (postgres.Seeded, about two seconds).
	var seeded map[string]int64
	noStore := len(f.versions) == 0
	if !noStore {
		if seeded, err = postgres.Seeded(ctx, r.dst.db); err != nil {
			return false, err
		}
	}
	if err := r.decide(f, seeded, installation, state); err != nil {
		return false, err
	}
	if f.source != nil {
		r.sum.Resumed = !f.source.finishedAt.Valid
		finished = f.source.finishedAt.Valid
	}
	if newer := newest(f.versions); !subset(f.versions, postgres.Versions()) {
		return false, fmt.Errorf("the destination schema %s is at schema version %d, newer than this tillit's: run migrate-store with the tillit version that created it, or choose another schema", r.dst.data, newer)
	}
	if err := r.dst.migrate(ctx); err != nil {
		return false, err
	}
	if noStore {
		migrated, err := r.dst.inspect(ctx)
		if err != nil {
			return false, err
		}
		seeded = migrated.rows
	}
	if err := r.plan(ctx, seeded); err != nil {
		return false, err
	}
	if err := r.dst.prepare(ctx); err != nil {
		return false, err
	}
	if f.source == nil {
		if err := r.dst.record(ctx, installation, state); err != nil {
			return false, err
		}
	}
	for _, t := range r.tables {
		p, n := f.progress[t.qualified()], f.rows[t.qualified()]
		switch {
		case t.replace || n == p.rows:
		case finished:
			return false, fmt.Errorf("the copy into schema %s finished on %s, and the store there has been written to since (table %s holds %d rows, %d were copied): nothing to do",
				r.dst.data, f.source.finishedAt.String, t.qualified(), n, p.rows)
		default:
			return false, fmt.Errorf("table %s of the destination holds %d rows, but the interrupted copy recorded %d: something else wrote to schema %s; drop schemas %s and %s, then run migrate-store again",
				t.qualified(), n, p.rows, r.dst.data, r.dst.data, r.dst.keys)
		}
	}
	return finished, nil
}

// decide refuses a destination that holds anything but this source's copy: rows beyond those
// its migrations put there (seeded).
func (r *run) decide(f *found, seeded map[string]int64, installation, state string) error {
	drop := fmt.Sprintf("choose another schema, or drop schemas %s and %s if nothing in them is needed", r.dst.data, r.dst.keys)
	if f.source == nil {
		var full []string
		for t, n := range f.rows {
			if n > seeded[t] {
				full = append(full, fmt.Sprintf("%s (%d rows)", t, n))
			}
		}
		if len(full) > 0 {
			slices.Sort(full)
			return fmt.Errorf("the destination schema %s already holds a store: %s; migrate-store fills only an empty one: %s", r.dst.data, strings.Join(full, ", "), drop)
		}
		return nil
	}
	if f.source.installation != installation {
		return fmt.Errorf("the destination schema %s holds a copy of a different installation (its first audit event differs); %s", r.dst.data, drop)
	}
	if f.source.state != state {
		what := "an interrupted copy"
		if f.source.finishedAt.Valid {
			what = "a finished copy (" + f.source.finishedAt.String + ")"
		}
		return fmt.Errorf("the destination schema %s holds %s of this installation from before its SQLite store last changed (was the server run in between?); drop schemas %s and %s, then run migrate-store again", r.dst.data, what, r.dst.data, r.dst.keys)
	}
	return nil
}

// plan reads both sides' tables and columns, checks the versions are equal, pairs the tables
// and orders them parents first. A table the migrations put rows in (seeded) is replaced.
func (r *run) plan(ctx context.Context, seeded map[string]int64) error {
	have, err := r.src.versions(ctx)
	if err != nil {
		return err
	}
	got, err := r.dst.versions(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(have, got) {
		return fmt.Errorf("the SQLite store is at schema version %d and the destination at %d: upgrade the older first, then run migrate-store again", newest(have), newest(got))
	}
	tables, err := sourceTables(ctx, r.src.tx)
	if err != nil {
		return err
	}
	dcols, err := r.dst.columns(ctx)
	if err != nil {
		return err
	}
	if err := match(tables, dcols, r.dst.schemaOf()); err != nil {
		return err
	}
	for _, t := range tables {
		t.replace = seeded[t.qualified()] > 0
	}
	r.tables, err = order(tables)
	return err
}

// copyAll copies every table not yet whole, then resets the destination's sequences and marks
// the copy finished.
func (r *run) copyAll(ctx context.Context) error {
	f, err := r.dst.inspect(ctx)
	if err != nil {
		return err
	}
	for _, t := range r.tables {
		if err := r.copyTable(ctx, t, f.progress[t.qualified()]); err != nil {
			return err
		}
	}
	for _, t := range r.tables {
		floor, err := r.src.floor(ctx, t)
		if err != nil {
			return err
		}
		if err := r.dst.resetSequences(ctx, t, floor); err != nil {
			return err
		}
	}
	return r.dst.finish(ctx)
}

// copyTable copies t's rows after the progress p recorded, in batches.
func (r *run) copyTable(ctx context.Context, t *table, p progressRow) error {
	if p.done {
		return nil
	}
	var after []any
	if p.lastKey != "" {
		var err error
		if after, err = decodeKey(p.lastKey); err != nil {
			return err
		}
	}
	rows, err := r.src.rows(ctx, t, after)
	if err != nil {
		return fmt.Errorf("table %s of the SQLite store: %w", t.qualified(), err)
	}
	defer rows.Close()
	first := p.rows == 0
	var batch [][]any
	var last []any
	flush := func(done bool) error {
		next := progressRow{lastKey: p.lastKey, rows: p.rows + int64(len(batch)), done: done}
		if last != nil {
			k, err := encodeKey(last)
			if err != nil {
				return fmt.Errorf("table %s, row %s: %w", t.qualified(), describeKey(t.keyNames(), last), err)
			}
			next.lastKey = k
		}
		if err := r.dst.write(ctx, t, batch, first, next); err != nil {
			return fmt.Errorf("table %s, rows after %s: %w", t.qualified(), p.describe(t), err)
		}
		r.sum.Copied += int64(len(batch))
		p, batch, first = next, batch[:0], false
		r.report(t, p.rows, done)
		if r.opt.AfterBatch != nil {
			return r.opt.AfterBatch(t.qualified(), p.rows)
		}
		return nil
	}
	for rows.Next() {
		key, vals, err := t.scan(rows)
		if err != nil {
			return fmt.Errorf("table %s of the SQLite store: %w", t.qualified(), err)
		}
		conv, err := t.convertRow(key, vals)
		if err != nil {
			return err
		}
		batch, last = append(batch, conv), key
		if len(batch) == r.opt.Batch {
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("table %s of the SQLite store: %w", t.qualified(), err)
	}
	return flush(true)
}

// describe names where a copy of t stands, for messages.
func (p progressRow) describe(t *table) string {
	if p.lastKey == "" {
		return "the start"
	}
	k, err := decodeKey(p.lastKey)
	if err != nil {
		return "the start"
	}
	return describeKey(t.keyNames(), k)
}

// say writes a line to Options.Progress.
func (r *run) say(format string, args ...any) {
	if r.opt.Progress != nil {
		fmt.Fprintf(r.opt.Progress, format+"\n", args...)
	}
}

// report writes a progress line for t: at most one a second, and one when it is whole (none
// for an empty table).
func (r *run) report(t *table, rows int64, done bool) {
	if r.opt.Progress == nil || t.total == 0 || !done && time.Since(r.shown) < time.Second {
		return
	}
	r.shown = time.Now()
	pct := int64(100)
	if t.total > 0 {
		pct = rows * 100 / t.total
	}
	fmt.Fprintf(r.opt.Progress, "%s: %d/%d rows (%d%%)\n", t.qualified(), rows, t.total, pct)
}

// verify compares every table's row count and digest on both sides, then opens the
// destination as a store with the installation's key and verifies its audit chain.
func (r *run) verify(ctx context.Context) error {
	r.sum.Tables, r.sum.Rows = nil, 0
	for _, t := range r.tables {
		s, err := r.src.digest(ctx, t)
		if err != nil {
			return fmt.Errorf("verify %s in the SQLite store: %w", t.qualified(), err)
		}
		d, err := r.dst.digest(ctx, t)
		if err != nil {
			return fmt.Errorf("verify %s in the destination: %w", t.qualified(), err)
		}
		if s.rows != d.rows {
			return fmt.Errorf("verify: table %s holds %d rows in the SQLite store and %d in the destination", t.qualified(), s.rows, d.rows)
		}
		if s.lanes != d.lanes {
			return fmt.Errorf("verify: table %s holds %d rows on both sides, but their contents differ: something wrote to one side during or after the copy; drop schemas %s and %s, then run migrate-store again", t.qualified(), s.rows, r.dst.data, r.dst.keys)
		}
		r.sum.Tables = append(r.sum.Tables, TableCount{Table: t.qualified(), Rows: d.rows})
		r.sum.Rows += d.rows
	}
	db, err := store.Open(ctx, store.Config{URL: r.opt.To, AnchorMAC: r.opt.AnchorMAC, AnchorMACs: r.opt.AnchorMACs})
	if err != nil {
		return fmt.Errorf("verify: open the destination: %w", err)
	}
	defer db.Close()
	v, err := db.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("verify: the destination's audit log: %w", err)
	}
	r.sum.Audit = v
	if !v.OK {
		return fmt.Errorf("verify: the destination's audit log does not verify under the installation's key: %s", v)
	}
	slices.SortFunc(r.sum.Tables, func(a, b TableCount) int { return strings.Compare(a.Table, b.Table) })
	r.sum.Verified = true
	return nil
}
