package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/sqlstore"
)

// The two files commit one transaction file by file (SQLite's WAL mode has no super-journal):
// tillit.db first, then keys.db. A process killed between the two leaves the data file one
// transaction ahead of the key store, never the other way round. Each file carries a commit
// marker, bumped by every transaction that writes the key store; equal markers mean the files
// agree. See doc.go for the invariants and reconcile for the repair.

// ensureMarkers creates the commit markers when absent (a new store, or one from before them).
// Not a migration: a migration spans both files too, and a marker lost with it would stop Open.
// They start with the data file's one ahead, so the first write repairs whatever a crash left
// before markers existed (a log one event ahead of its anchor, the reliability trial's state).
// Until a commit has recorded its anchor in the data file's marker (bound = 0 in the key
// store), that first repair trusts events that chain from the anchor: once, at the upgrade.
func (db *DB) ensureMarkers(ctx context.Context) error {
	_, err := db.writer.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS main.commit_marker (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    gen         INTEGER NOT NULL,
    anchor_seq  INTEGER, -- the anchor the last commit wrote, with its MAC (reconcile's target)
    anchor_hash BLOB,
    anchor_mac  BLOB
) STRICT;
CREATE TABLE IF NOT EXISTS keystore.commit_marker (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    gen   INTEGER NOT NULL,
    bound INTEGER NOT NULL DEFAULT 0 -- 1 once a commit recorded its anchor in the data file's marker
) STRICT;
INSERT OR IGNORE INTO main.commit_marker (id, gen) VALUES (1, 1);
INSERT OR IGNORE INTO keystore.commit_marker (id, gen) VALUES (1, 0);`)
	if err != nil {
		return fmt.Errorf("sqlite: commit markers: %w", err)
	}
	return nil
}

// ensureKeystoreSchema recreates what a migration applied in the data file but lost in the key
// store (a crash inside its commit): each migration is one transaction over both files, and the
// data file records it as applied first. Runs before the pending migrations, which may need it.
func (db *DB) ensureKeystoreSchema(ctx context.Context) error {
	applied := func(v int) (bool, error) {
		var n int
		err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n)
		return n > 0, err
	}
	steps := []struct {
		version int
		ddl     string
	}{
		{1, `CREATE TABLE IF NOT EXISTS keystore.contact_keys (contact_id TEXT PRIMARY KEY, version INTEGER NOT NULL, wrapped BLOB NOT NULL, created_at TEXT NOT NULL) STRICT`},
		{2, `CREATE TABLE IF NOT EXISTS keystore.audit_anchor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash BLOB NOT NULL) STRICT`},
	}
	for _, st := range steps {
		ok, err := applied(st.version)
		if err != nil {
			return fmt.Errorf("sqlite: key store schema: %w", err)
		}
		if ok {
			if _, err := db.writer.ExecContext(ctx, st.ddl); err != nil {
				return fmt.Errorf("sqlite: key store schema (migration %d): %w", st.version, err)
			}
		}
	}
	if ok, err := applied(anchorMACMigration); err != nil || !ok {
		return err
	}
	var n int
	if err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('audit_anchor', 'keystore') WHERE name = 'mac'`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: key store schema: %w", err)
	}
	if n == 0 {
		if _, err := db.writer.ExecContext(ctx, `ALTER TABLE keystore.audit_anchor ADD COLUMN mac BLOB`); err != nil {
			return fmt.Errorf("sqlite: key store schema (migration %d): %w", anchorMACMigration, err)
		}
		db.AnchorUnsealed = true // the upgrade's seal (SealAnchor) was lost with the column
	}
	return nil
}

// Ready is what GET /readyz answers (sqlstore.Ready over this database's write transaction).
func (db *DB) Ready(ctx context.Context, wait time.Duration) store.Readiness {
	return sqlstore.Ready(ctx, wait, db.Update)
}

// SealAnchor writes the keyed MAC of an anchor from before anchors carried one
// (sqlstore.Base.SealAnchor).
func (db *DB) SealAnchor(ctx context.Context) error { return db.Base.SealAnchor(ctx, db.Update) }

// Repair is what reconcile did to bring the two files together after a split commit.
type Repair = store.Repair
