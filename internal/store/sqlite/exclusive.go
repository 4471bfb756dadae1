package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"

	"github.com/tillit/tillit/internal/store"
)

// ErrInUse is returned by OpenExclusive when another connection, of this process or another
// (a running tillit serve, a tillit import), has the data directory's files open.
var ErrInUse = store.ErrInUse

// OpenExclusive opens the data directory's files for a program that reads the whole store while
// no other connection may open it (tillit migrate-store): one connection, the key store attached
// as "keystore", both files in exclusive locking mode (PRAGMA locking_mode: in WAL mode the first
// read takes each file's exclusive lock, held until the connection closes) and query_only, and
// a read transaction begun on it (the returned Tx; roll it back, then close the DB). Another
// process opening the files meanwhile waits for its busy timeout and fails. Nothing is created or
// migrated: a directory without both files is an error. Each file opens under the key among
// keys it is encrypted with, or plain (Options.Keys). It fails
// with ErrInUse at once, without waiting, when another connection has either file open: in WAL
// mode every open connection keeps a shared lock on its files, which the exclusive lock needs
// gone.
func OpenExclusive(ctx context.Context, dir string, keys [][]byte) (*sql.DB, *sql.Tx, error) {
	if err := settle(dir); err != nil {
		return nil, nil, err
	}
	dataPath, keysPath := filepath.Join(dir, DataFile), filepath.Join(dir, KeysFile)
	for _, p := range []string{dataPath, keysPath} {
		if _, err := os.Stat(p); err != nil {
			return nil, nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	data, err := openFile(dataPath, keys, "")
	if err != nil {
		return nil, nil, err
	}
	ks, err := openFile(keysPath, keys, "")
	if err != nil {
		return nil, nil, err
	}
	attach := func(c *sqlite3.Conn) error {
		if err := data.redact(c.Exec(data.keyPragma() + "PRAGMA busy_timeout=0; PRAGMA locking_mode=EXCLUSIVE; PRAGMA foreign_keys=ON; PRAGMA query_only=ON;")); err != nil {
			return err
		}
		if err := ks.attach(c, "keystore", "mode=rw"); err != nil {
			return err
		}
		return c.Exec("PRAGMA keystore.locking_mode=EXCLUSIVE;")
	}
	db, err := driver.Open(data.uri("mode=rw&_txlock=deferred"), attach)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		// Reading both files takes the key store's lock too (the data file's came with BEGIN).
		var n int
		err = tx.QueryRowContext(ctx, "SELECT count(*) FROM keystore.sqlite_schema").Scan(&n)
		if err != nil {
			tx.Rollback()
		}
	}
	if err != nil {
		db.Close()
		if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
			return nil, nil, ErrInUse
		}
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", dir, err)
	}
	return db, tx, nil
}
