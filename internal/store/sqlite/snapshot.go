package sqlite

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
	adiantumcipher "lukechampine.com/adiantum"
	"lukechampine.com/adiantum/hbsh"
)

// Snapshot is a copy of a store's two files at one commit (TakeSnapshot), kept as scratch files
// encrypted under a random key that only this value holds, and read back (Open) as SQLite wrote
// them: the backup of the store is the SQLite file itself, independent of the disk keys, to be
// encrypted by its reader. Remove it when done; a scratch file left by a crash is ciphertext
// under a key no one has.
type Snapshot struct {
	dir string // the scratch directory, made by TakeSnapshot
	key []byte // the scratch files' Adiantum key (KeySize bytes), in memory only

	// Schema is the highest migration applied (schema_migrations).
	Schema int
	// DataMarker and KeysMarker are the two files' commit markers (equal unless a process died
	// between the two files' commits; the next open of the restored store repairs that).
	DataMarker, KeysMarker int64
	// AuditSeq and AuditHash are the newest audit event's sequence number and hash (0, nil for
	// an empty log): the point of the log the snapshot ends at.
	AuditSeq  int64
	AuditHash []byte
}

// TakeSnapshot copies the store in dir into scratch files in a new directory under scratch, both
// files at the same commit, while other processes (tillit serve) go on reading and writing it.
// opt are the options the store is opened with (its disk keys, its VFS).
//
// One connection with the key store attached holds one read transaction over both files while
// SQLite's online backup (copyFile, as Reseal) copies each, so the key store (its audit anchor,
// the data keys) is at the same commit as the data file (its audit log, the rows the keys belong
// to). A commit writes the two files one after the other, so the read transaction is begun while
// a second connection holds both files' write locks (BEGIN IMMEDIATE, waiting as a writer does,
// busy_timeout 10 s): no commit is then half way. The locks are released as soon as it has
// begun; writers then go on, and the copy reads the files as they were (WAL). While it copies,
// a checkpoint cannot pass the copy's snapshot: an erasure's closing TRUNCATE checkpoint
// (Checkpoint) waits for it, up to busy_timeout.
//
// The scratch files are encrypted under a random key held in the returned Snapshot only, so no
// page of the store reaches the disk in plain. progress hears of the copy of each file.
func TakeSnapshot(ctx context.Context, dir string, opt Options, scratch string, progress Progress) (_ *Snapshot, err error) {
	if err := settle(dir); err != nil {
		return nil, err
	}
	dataPath, keysPath := filepath.Join(dir, DataFile), filepath.Join(dir, KeysFile)
	for _, p := range []string{dataPath, keysPath} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	data, err := openFile(dataPath, opt.Keys, opt.VFS)
	if err != nil {
		return nil, err
	}
	ks, err := openFile(keysPath, opt.Keys, opt.VFS)
	if err != nil {
		return nil, err
	}
	connect := func() (*sqlite3.Conn, error) {
		c, err := sqlite3.OpenContext(ctx, data.uri("mode=rw"))
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
		}
		if err := data.redact(c.Exec(data.keyPragma() + "PRAGMA busy_timeout=10000;")); err != nil {
			c.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", dataPath, err)
		}
		if err := ks.attach(c, "keystore", "mode=rw"); err != nil {
			c.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", keysPath, err)
		}
		return c, nil
	}
	src, err := connect()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	lock, err := connect()
	if err != nil {
		return nil, err
	}
	defer lock.Close()

	s := &Snapshot{key: make([]byte, KeySize)}
	if _, err := rand.Read(s.key); err != nil {
		return nil, err
	}
	if err := lock.Exec("BEGIN IMMEDIATE"); err != nil {
		return nil, fmt.Errorf("sqlite: snapshot: wait for the writers: %w", err)
	}
	err = src.Exec("BEGIN")
	if err == nil {
		err = s.readPosition(src)
	}
	if rerr := lock.Exec("ROLLBACK"); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: snapshot: %w", err)
	}
	defer src.Exec("ROLLBACK")

	if s.dir, err = os.MkdirTemp(scratch, ".tillit-snapshot-"); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer func() {
		if err != nil {
			s.Remove()
		}
	}()
	scratchVFS, err := encryptingVFS(opt.VFS)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct{ schema, name string }{{"main", DataFile}, {"keystore", KeysFile}} {
		dst := file{path: filepath.Join(s.dir, c.name), vfs: scratchVFS, key: s.key}
		if err := copyFile(ctx, src, c.schema, dst, func(done, total int) {
			if progress != nil {
				progress(c.name, done, total)
			}
		}); err != nil {
			return nil, err
		}
		removeFileSet(dst.path, "-journal")
	}
	return s, nil
}

// readPosition reads, in c's open transaction, the schema version, the commit markers and the
// head of the audit log; the reads begin the transaction's snapshot of both files.
func (s *Snapshot) readPosition(c *sqlite3.Conn) error {
	st, _, err := c.Prepare(`SELECT (SELECT coalesce(max(version), 0) FROM main.schema_migrations),
	(SELECT gen FROM main.commit_marker WHERE id = 1), (SELECT gen FROM keystore.commit_marker WHERE id = 1),
	(SELECT coalesce(max(seq), 0) FROM main.audit_events), (SELECT hash FROM main.audit_events ORDER BY seq DESC LIMIT 1)`)
	if err != nil {
		return err
	}
	defer st.Close()
	if !st.Step() {
		if err := st.Err(); err != nil {
			return err
		}
		return errors.New("no row")
	}
	s.Schema = st.ColumnInt(0)
	s.DataMarker, s.KeysMarker, s.AuditSeq = st.ColumnInt64(1), st.ColumnInt64(2), st.ColumnInt64(3)
	s.AuditHash = st.ColumnBlob(4, nil)
	return st.Err()
}

// Open returns the file name (DataFile or KeysFile) of the snapshot as SQLite wrote it, decrypted
// as it is read, and its size in bytes.
func (s *Snapshot) Open(name string) (io.ReadCloser, int64, error) {
	if name != DataFile && name != KeysFile {
		return nil, 0, fmt.Errorf("sqlite: the snapshot has no file %q", name)
	}
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("sqlite: %w", err)
	}
	if fi.Size()%blockSize != 0 {
		f.Close()
		return nil, 0, fmt.Errorf("sqlite: the snapshot's %s is %d bytes, not whole blocks", name, fi.Size())
	}
	return &blockReader{f: f, r: bufio.NewReaderSize(f, 64*blockSize), key: s.key}, fi.Size(), nil
}

// Remove removes the snapshot's scratch files.
func (s *Snapshot) Remove() error {
	if s.dir == "" {
		return nil
	}
	return os.RemoveAll(s.dir)
}

// blockReader reads a file encrypted by the Adiantum VFS under key, decrypting each block.
type blockReader struct {
	f   *os.File
	r   *bufio.Reader
	key []byte
	c   *hbsh.HBSH
	off int64
	buf [blockSize]byte
	n   int // bytes of buf still to hand out, at its end
}

func (b *blockReader) Read(p []byte) (int, error) {
	if b.n == 0 {
		if _, err := io.ReadFull(b.r, b.buf[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, fmt.Errorf("sqlite: a snapshot file ends inside a block")
			}
			return 0, err
		}
		if b.c == nil {
			b.c = adiantumcipher.New(b.key)
		}
		var tweak [8]byte
		binary.LittleEndian.PutUint64(tweak[:], uint64(b.off))
		b.c.Decrypt(b.buf[:], tweak[:])
		b.off += blockSize
		b.n = blockSize
	}
	n := copy(p, b.buf[blockSize-b.n:])
	b.n -= n
	return n, nil
}

func (b *blockReader) Close() error { return b.f.Close() }

// Restore writes a store into dir from its two files as SQLite wrote them (a Snapshot's Open:
// data for DataFile, keystore for KeysFile), encrypted under opt.Keys[0] (plain without keys), as
// Reseal writes its copies: each into a new file beside its place, encrypted block by block as
// the Adiantum VFS does (the block's offset as tweak), synced; both checked (PRAGMA quick_check,
// and no migration newer than this program's); then renamed into place, the data file first,
// and the directory synced. A kill before the first rename leaves no store (the next open of
// any kind removes the copies); after it, the next open renames the key store in (settle).
//
// dir must hold no store: a data file, a key store or their logs are refused and left as they
// are. A stream that is not a SQLite database, ends inside a block or fails is refused, and the
// copies are removed.
func Restore(ctx context.Context, dir string, opt Options, data, keystore io.Reader) (err error) {
	if err := settle(dir); err != nil {
		return err
	}
	dataPath, keysPath := filepath.Join(dir, DataFile), filepath.Join(dir, KeysFile)
	for _, p := range []string{dataPath, keysPath} {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if _, err := os.Lstat(p + suffix); !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("sqlite: %s exists; a store is restored only where there is none", p+suffix)
			}
		}
	}
	var key []byte
	vfsName := opt.VFS
	if len(opt.Keys) > 0 {
		if key = opt.Keys[0]; len(key) != KeySize {
			return fmt.Errorf("sqlite: a disk key of %d bytes; want %d", len(key), KeySize)
		}
		if vfsName, err = encryptingVFS(opt.VFS); err != nil {
			return err
		}
	}
	copies := []struct {
		path string
		r    io.Reader
	}{{dataPath + newSuffix, data}, {keysPath + newSuffix, keystore}}
	defer func() {
		if err != nil {
			for i := len(copies) - 1; i >= 0; i-- {
				removeFileSet(copies[i].path)
			}
		}
	}()
	for _, c := range copies {
		if err := writeBlocks(ctx, c.path, key, c.r); err != nil {
			return err
		}
	}
	if err := checkCopies(ctx, copies[0].path, copies[1].path, vfsName, key); err != nil {
		return err
	}
	if err := checkSchema(ctx, copies[0].path, vfsName, key); err != nil {
		return err
	}
	// The copies are in WAL mode, as their source: the checks' read-only connections made an
	// empty log and its index beside each (nothing wrote to them).
	for _, c := range copies {
		if fi := stat(c.path + "-wal"); fi != nil && fi.Size() > 0 {
			return fmt.Errorf("sqlite: the check of %s left a write-ahead log of %d bytes", c.path, fi.Size())
		}
		if err := removeFileSet(c.path, "-wal", "-shm"); err != nil {
			return err
		}
	}
	if err := os.Rename(copies[0].path, dataPath); err != nil {
		return fmt.Errorf("sqlite: put the restored data file in place: %w", err)
	}
	if err := os.Rename(copies[1].path, keysPath); err != nil {
		err = fmt.Errorf("sqlite: put the restored key store in place (the next open of the store finishes it): %w", err)
		copies = nil // the data file is in place: settle finishes the swap
		return err
	}
	return syncDir(dir)
}

// writeBlocks writes r, a SQLite database file, into the new file path (mode 0600), each block
// encrypted under key as the Adiantum VFS does (plain when key is nil), and syncs it.
func writeBlocks(ctx context.Context, path string, key []byte, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 64*blockSize)
	var c *hbsh.HBSH
	if key != nil {
		c = adiantumcipher.New(key)
	}
	var block [blockSize]byte
	var tweak [8]byte
	var off int64
	for {
		if off%(1<<20) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n, err := io.ReadFull(r, block[:])
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("sqlite: %s: the database ends %d bytes into a %d-byte block (cut short?)", filepath.Base(path), n, blockSize)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", filepath.Base(path), err)
		}
		if off == 0 && !sqliteStart(block[:]) {
			return fmt.Errorf("sqlite: %s: not a SQLite database", filepath.Base(path))
		}
		if c != nil {
			binary.LittleEndian.PutUint64(tweak[:], uint64(off))
			c.Encrypt(block[:], tweak[:])
		}
		if _, err := w.Write(block[:]); err != nil {
			return fmt.Errorf("sqlite: write %s: %w", path, err)
		}
		off += blockSize
	}
	if off == 0 {
		return fmt.Errorf("sqlite: %s: empty", filepath.Base(path))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("sqlite: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sqlite: sync %s: %w", path, err)
	}
	return f.Close()
}

// checkSchema refuses a data file that holds no migration record, or one from a newer program
// (a migration this one does not have).
func checkSchema(ctx context.Context, dataPath, vfsName string, key []byte) error {
	latest, err := LatestSchema()
	if err != nil {
		return err
	}
	f := file{path: dataPath, vfs: vfsName, key: key}
	c, err := sqlite3.OpenContext(ctx, f.uri("mode=ro"))
	if err != nil {
		return fmt.Errorf("sqlite: check %s: %w", dataPath, err)
	}
	defer c.Close()
	if err := f.redact(c.Exec(f.keyPragma())); err != nil {
		return fmt.Errorf("sqlite: check %s: %w", dataPath, err)
	}
	st, _, err := c.Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("sqlite: the restored data file is no Tillit store (%v)", err)
	}
	defer st.Close()
	var v int
	if st.Step() {
		v = st.ColumnInt(0)
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("sqlite: check %s: %w", dataPath, err)
	}
	if v == 0 || v > latest {
		return fmt.Errorf("sqlite: the restored data file is at schema version %d; this program knows versions 1 to %d (restore with the Tillit that made the backup, or a newer one)", v, latest)
	}
	return nil
}

// LatestSchema is the number of the newest migration this program applies.
func LatestSchema() (int, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return 0, err
	}
	latest := 0
	for _, name := range names {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(name), "%d_", &v); err != nil {
			return 0, fmt.Errorf("sqlite: migration %s: name must start with its number", name)
		}
		latest = max(latest, v)
	}
	return latest, nil
}
