package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// OpenFiles opens the data directory's two files as tables, beside the store and not through
// it, as someone with the files and their key would: one connection, the data file with the key
// store attached as "keystore", each file under the key among keys it is encrypted with, or
// plain. Nothing is created or migrated. For tests and tools that read or change rows no store
// method reaches; close it before opening the store.
func OpenFiles(dir string, keys [][]byte) (*sql.DB, error) {
	if err := settle(dir); err != nil {
		return nil, err
	}
	dataPath, keysPath := filepath.Join(dir, DataFile), filepath.Join(dir, KeysFile)
	for _, p := range []string{dataPath, keysPath} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	data, err := openFile(dataPath, keys, "")
	if err != nil {
		return nil, err
	}
	ks, err := openFile(keysPath, keys, "")
	if err != nil {
		return nil, err
	}
	db, err := driver.Open(data.uri("mode=rw"), func(c *sqlite3.Conn) error {
		if err := data.redact(c.Exec(data.keyPragma() + "PRAGMA busy_timeout=10000;")); err != nil {
			return err
		}
		return ks.attach(c, "keystore", "mode=rw")
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// Progress is told how far a copy of Reseal is: the file (DataFile or KeysFile), the pages
// copied and the pages in all.
type Progress func(file string, done, total int)

// resealStep is the number of pages Reseal copies between two reports of progress (4 MiB of
// 16 KiB pages).
const resealStep = 256

// Reseal copies the store in dir into new files encrypted under to (KeySize bytes) and puts
// them in place of the old ones: tillit keys encrypt-disk (plain files to encrypted) and
// tillit keys rotate --disk (one key to another). opt.Keys are the keys the files may be under
// now (Options.Keys); opt.VFS the VFS under the encryption (the crash tests' killing one).
//
// No other connection may have the store open: Reseal takes both files' exclusive locks at
// once, without waiting, and fails with ErrInUse when another process (tillit serve) has them.
// It holds them until the new files are in place, so a process that opens the store meanwhile
// waits, and then refuses the files it opened (OpenWith: replaced while opening).
//
// Steps, each safe to be killed at (settle finishes or undoes what a kill left, at the next
// open of any kind, so the directory holds either the old files or the new ones):
//  1. both files leave WAL mode (PRAGMA journal_mode=DELETE), which copies any committed page
//     of their logs into them; the files stay whole;
//  2. each file is copied page by page (SQLite's online backup, which reports progress) into
//     DataFile+".new" and KeysFile+".new" through the Adiantum VFS under to, and synced;
//  3. the copies are checked (PRAGMA quick_check, opened under to);
//  4. the data file's copy is renamed over the data file, then the key store's over the key
//     store, and the directory synced. Until the first rename the old files are the store; after
//     it, settle renames the key store's copy in too.
//
// The next open sets WAL mode again. Rows deleted with secure_delete are zeros in the old files,
// and are copied as such; the old files' blocks stay on the disk until overwritten (see the
// README on converting).
func Reseal(ctx context.Context, dir string, opt Options, to []byte, progress Progress) (err error) {
	if len(to) != KeySize {
		return fmt.Errorf("sqlite: a disk key of %d bytes; want %d", len(to), KeySize)
	}
	if err := settle(dir); err != nil {
		return err
	}
	dataPath, keysPath := filepath.Join(dir, DataFile), filepath.Join(dir, KeysFile)
	for _, p := range []string{dataPath, keysPath} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	data, err := openFile(dataPath, opt.Keys, opt.VFS)
	if err != nil {
		return err
	}
	ks, err := openFile(keysPath, opt.Keys, opt.VFS)
	if err != nil {
		return err
	}
	dstVFS, err := encryptingVFS(opt.VFS)
	if err != nil {
		return err
	}
	src, err := sqlite3.OpenContext(ctx, data.uri("mode=rw"))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	defer src.Close()
	if err := data.redact(src.Exec(data.keyPragma() + "PRAGMA busy_timeout=0; PRAGMA locking_mode=EXCLUSIVE;")); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", dataPath, err)
	}
	if err := ks.attach(src, "keystore", "mode=rw"); err != nil {
		if busy(err) {
			return ErrInUse
		}
		return fmt.Errorf("sqlite: open %s: %w", keysPath, err)
	}
	if err := src.Exec("PRAGMA keystore.locking_mode=EXCLUSIVE;"); err != nil {
		return err
	}
	for _, schema := range []string{"main", "keystore"} {
		mode, err := pragmaText(src, "PRAGMA "+schema+".journal_mode=DELETE")
		if busy(err) || (err == nil && mode != "delete") {
			return ErrInUse
		}
		if err != nil {
			return fmt.Errorf("sqlite: leave WAL mode (%s): %w", schema, err)
		}
	}
	for _, p := range []string{dataPath, keysPath} {
		if fi := stat(p + "-wal"); fi != nil && fi.Size() > 0 {
			return fmt.Errorf("sqlite: %s-wal still holds pages after leaving WAL mode; nothing was changed", p)
		}
		if err := removeFileSet(p, "-wal", "-shm"); err != nil {
			return err
		}
	}

	copies := []struct{ schema, file, path string }{{"main", DataFile, dataPath + newSuffix}, {"keystore", KeysFile, keysPath + newSuffix}}
	swapping := false
	defer func() {
		if err != nil && !swapping { // undo: the old files stay the store
			for i := len(copies) - 1; i >= 0; i-- {
				removeFileSet(copies[i].path)
			}
		}
	}()
	for _, c := range copies {
		dst := file{path: c.path, vfs: dstVFS, key: to}
		if err := copyFile(ctx, src, c.schema, dst, func(done, total int) {
			if progress != nil {
				progress(c.file, done, total)
			}
		}); err != nil {
			return err
		}
	}
	if err := checkCopies(ctx, copies[0].path, copies[1].path, dstVFS, to); err != nil {
		return err
	}
	if err := os.Rename(copies[0].path, dataPath); err != nil {
		return fmt.Errorf("sqlite: swap in the new data file: %w", err)
	}
	// From here on the new files are the store: a failure leaves the key store's copy for
	// settle to rename in at the next open.
	swapping = true
	if err := os.Rename(copies[1].path, keysPath); err != nil {
		return fmt.Errorf("sqlite: swap in the new key store (the next open of the store finishes it): %w", err)
	}
	return syncDir(dir)
}

// copyFile copies schema of src into the new file dst page by page (online backup), telling
// progress after every resealStep pages, then syncs it.
func copyFile(ctx context.Context, src *sqlite3.Conn, schema string, dst file, progress func(done, total int)) error {
	uri := dst.uri("") + "&hexkey=" + hex.EncodeToString(dst.key)
	b, err := src.BackupInit(schema, uri)
	if err != nil {
		return fmt.Errorf("sqlite: copy %s into %s: %w", schema, dst.path, dst.redact(err))
	}
	for {
		if err := ctx.Err(); err != nil {
			b.Close()
			return err
		}
		done, err := b.Step(resealStep)
		if err != nil {
			b.Close()
			return fmt.Errorf("sqlite: copy %s into %s: %w", schema, dst.path, dst.redact(err))
		}
		progress(b.PageCount()-b.Remaining(), b.PageCount())
		if done {
			break
		}
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("sqlite: copy %s into %s: %w", schema, dst.path, dst.redact(err))
	}
	f, err := os.OpenFile(dst.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sqlite: sync %s: %w", dst.path, err)
	}
	return nil
}

// checkCopies opens the two copies under key, read-only, and runs PRAGMA quick_check on both.
func checkCopies(ctx context.Context, dataCopy, keysCopy, vfsName string, key []byte) error {
	data := file{path: dataCopy, vfs: vfsName, key: key}
	ks := file{path: keysCopy, vfs: vfsName, key: key}
	c, err := sqlite3.OpenContext(ctx, data.uri("mode=ro"))
	if err != nil {
		return fmt.Errorf("sqlite: check %s: %w", dataCopy, err)
	}
	defer c.Close()
	if err := data.redact(c.Exec(data.keyPragma())); err != nil {
		return fmt.Errorf("sqlite: check %s: %w", dataCopy, err)
	}
	if err := ks.attach(c, "keystore", "mode=ro"); err != nil {
		return fmt.Errorf("sqlite: check %s: %w", keysCopy, err)
	}
	for _, schema := range []string{"main", "keystore"} {
		res, err := pragmaText(c, "PRAGMA "+schema+".quick_check")
		if err != nil || res != "ok" {
			return fmt.Errorf("sqlite: the copy of %s does not check (%q, %v); nothing was changed", schema, res, err)
		}
	}
	return nil
}

// busy reports whether err says another connection holds a lock.
func busy(err error) bool { return errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) }

// pragmaText runs a pragma and returns the first column of its first row.
func pragmaText(c *sqlite3.Conn, pragma string) (string, error) {
	st, _, err := c.Prepare(pragma)
	if err != nil {
		return "", err
	}
	var out string
	if st.Step() {
		out = st.ColumnText(0)
	}
	return out, st.Close()
}

// KeysOf returns, for the data file and the key store in dir, the key among keys each is
// encrypted under: nil for a plain file (for a new one: keys[0], as OpenWith would make it).
// A swap a kill interrupted is settled first, as every open does.
func KeysOf(dir string, keys [][]byte) (data, keystore []byte, err error) {
	if err := settle(dir); err != nil {
		return nil, nil, err
	}
	if data, err = keyOf(filepath.Join(dir, DataFile), keys); err != nil {
		return nil, nil, err
	}
	if keystore, err = keyOf(filepath.Join(dir, KeysFile), keys); err != nil {
		return nil, nil, err
	}
	return data, keystore, nil
}
