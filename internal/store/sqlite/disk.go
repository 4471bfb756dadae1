package sqlite

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
	"github.com/ncruces/go-sqlite3/vfs/adiantum" // registers the "adiantum" VFS
	adiantumcipher "lukechampine.com/adiantum"

	"github.com/tillit/tillit/internal/store"
)

// Disk encryption (research/crypto-design.md §6.1): both files, their write-ahead logs and
// journals are encrypted by the Adiantum VFS of github.com/ncruces/go-sqlite3, block by block
// (4 KiB, the block's offset in the file as tweak), under a 32-byte key of the installation's
// disk keyset. Shared-memory files (-shm) hold no content, only the log's index, and are not
// encrypted. The encryption is deterministic and carries no MAC: it hides the content of
// copies of the files, not which blocks changed between two copies, and does not detect
// tampering (sign backups).
//
// Which key a file is under is told by the file itself: its first block opens (decrypts to a
// SQLite header) under that key; a file that starts with SQLite's header is plain. So each
// file is opened as it is, whatever a crash, a restore or a conversion left.

// KeySize is the size in bytes of a disk key.
const KeySize = 32

// blockSize is the Adiantum VFS's block: files are encrypted 4 KiB at a time.
const blockSize = 4096

// Magic numbers at the start of the files SQLite writes (https://sqlite.org/fileformat.html).
var (
	dbMagic      = []byte("SQLite format 3\x00")
	walMagic     = [][]byte{{0x37, 0x7f, 0x06, 0x82}, {0x37, 0x7f, 0x06, 0x83}}
	journalMagic = []byte{0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7}
)

// ErrNoDiskKey is returned when a file is encrypted under none of the keys given.
var ErrNoDiskKey = store.ErrNoDiskKey

// sqliteStart reports whether b starts as one of SQLite's files does: a database, a
// write-ahead log or a rollback journal.
func sqliteStart(b []byte) bool {
	if bytes.HasPrefix(b, dbMagic) || bytes.HasPrefix(b, journalMagic) {
		return true
	}
	for _, m := range walMagic {
		if bytes.HasPrefix(b, m) {
			return true
		}
	}
	return false
}

// decryptBlock decrypts one blockSize block read at offset off of a file under key, in place.
func decryptBlock(key, block []byte, off int64) []byte {
	var tweak [8]byte
	binary.LittleEndian.PutUint64(tweak[:], uint64(off))
	return adiantumcipher.New(key).Decrypt(block, tweak[:])
}

// keyOf returns the key among keys that the file at path is encrypted under, nil for a plain
// file. A file that is absent or empty is new: it gets keys[0] (nil without keys). An empty
// database whose write-ahead log holds pages is told by the log.
func keyOf(path string, keys [][]byte) ([]byte, error) {
	first, err := firstBlock(path)
	if err != nil {
		return nil, err
	}
	if len(first) == 0 {
		if first, err = firstBlock(path + "-wal"); err != nil {
			return nil, err
		}
	}
	if len(first) == 0 {
		if len(keys) == 0 {
			return nil, nil
		}
		return keys[0], nil
	}
	if sqliteStart(first) {
		return nil, nil
	}
	if len(first) == blockSize {
		for _, k := range keys {
			if len(k) != KeySize {
				return nil, fmt.Errorf("sqlite: a disk key of %d bytes; want %d", len(k), KeySize)
			}
			if sqliteStart(decryptBlock(k, bytes.Clone(first), 0)) {
				return k, nil
			}
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s is encrypted (or not a SQLite file) and no disk key was given", ErrNoDiskKey, path)
	}
	return nil, fmt.Errorf("%w: %s (another installation's keys, or a disk key dropped since?)", ErrNoDiskKey, path)
}

// firstBlock reads up to blockSize bytes from the start of the file at path; none when the
// file does not exist.
func firstBlock(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer f.Close()
	b := make([]byte, blockSize)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sqlite: read %s: %w", path, err)
	}
	return b[:n], nil
}

// Plaintext returns the bytes of a file of a store (a database, its write-ahead log or journal)
// as SQLite wrote them before encryption: b decrypted block by block when its first block opens
// under one of keys, with true; b itself and false otherwise (a plain file, another file, or
// one under none of the keys). A trailing part shorter than a block is left as it is. For tests
// that look for what must not be in the files: they must look at what is under the encryption.
func Plaintext(b []byte, keys [][]byte) ([]byte, bool) {
	if len(b) < blockSize || sqliteStart(b) {
		return b, false
	}
	for _, k := range keys {
		if len(k) != KeySize || !sqliteStart(decryptBlock(k, bytes.Clone(b[:blockSize]), 0)) {
			continue
		}
		out := bytes.Clone(b)
		for off := 0; off+blockSize <= len(out); off += blockSize {
			decryptBlock(k, out[off:off+blockSize], int64(off))
		}
		return out, true
	}
	return b, false
}

// encryptingVFS returns the name of the Adiantum VFS over the VFS named base ("": the operating
// system's, the "adiantum" VFS itself), registering it on first use under base+"+adiantum".
func encryptingVFS(base string) (string, error) {
	if base == "" {
		return "adiantum", nil
	}
	name := base + "+adiantum"
	if vfs.Find(name) == nil {
		b := vfs.Find(base)
		if b == nil {
			return "", fmt.Errorf("sqlite: no VFS %q is registered", base)
		}
		vfs.Register(name, adiantum.Wrap(b, nil))
	}
	return name, nil
}

// file is one of the two files of a store as a connection opens it.
type file struct {
	path string
	vfs  string // "" for the operating system's
	key  []byte // nil for a plain file
}

// openFile finds how the file at path is to be opened: its key among keys (keyOf) and, when it
// has one, the encrypting VFS over base.
func openFile(path string, keys [][]byte, base string) (file, error) {
	key, err := keyOf(path, keys)
	if err != nil {
		return file{}, err
	}
	f := file{path: path, vfs: base, key: key}
	if key != nil {
		if f.vfs, err = encryptingVFS(base); err != nil {
			return file{}, err
		}
	}
	return f, nil
}

// uri is the file's URI with params ("mode=rw", or ""), naming its VFS but never its key.
func (f file) uri(params string) string {
	var q []string
	if params != "" {
		q = append(q, params)
	}
	if f.vfs != "" {
		q = append(q, "vfs="+f.vfs)
	}
	if len(q) == 0 {
		return "file:" + f.path
	}
	return "file:" + f.path + "?" + strings.Join(q, "&")
}

// keyPragma is the statement that gives a connection's main database its key, to run before
// any other (a database's first read needs it); "" for a plain file.
func (f file) keyPragma() string {
	if f.key == nil {
		return ""
	}
	return "PRAGMA hexkey='" + hex.EncodeToString(f.key) + "';"
}

// attach attaches f to c as schema with params ("mode=rw", or ""). An attached database gets
// its key in its URI (a PRAGMA comes too late: ATTACH reads the file); SQLite's message for
// an ATTACH that failed quotes the URI, so the key is cut out of any error.
func (f file) attach(c *sqlite3.Conn, schema, params string) error {
	uri := f.uri(params)
	if f.key != nil {
		uri += "&hexkey=" + hex.EncodeToString(f.key)
	}
	st, _, err := c.Prepare("ATTACH DATABASE ? AS " + schema)
	if err != nil {
		return err
	}
	if err := st.BindText(1, uri); err != nil {
		st.Close()
		return err
	}
	st.Step()
	return f.redact(st.Close())
}

// redact returns err with the file's key cut out of its message, keeping its SQLite code.
func (f file) redact(err error) error {
	if err == nil || f.key == nil {
		return err
	}
	k := hex.EncodeToString(f.key)
	if !strings.Contains(err.Error(), k) {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), k, "[key]")
	var code sqlite3.ExtendedErrorCode
	if !errors.As(err, &code) {
		return errors.New(msg)
	}
	return &redactedError{msg: msg, code: code}
}

// redactedError is an error of SQLite whose message held a key: the message without it, and
// the code, for errors.Is and errors.As.
type redactedError struct {
	msg  string
	code sqlite3.ExtendedErrorCode
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.code }

// newSuffix names the copies a conversion (Reseal) writes beside the files before it swaps
// them in.
const newSuffix = ".new"

// settle finishes or undoes a swap of new files (Reseal) that a crash interrupted, so that the
// directory holds one whole store: the old files, or the new ones. The data file's copy is
// renamed in first: while it is there, the swap had not begun and the copies (perhaps
// incomplete) are removed, the key store's first; once it is gone, the key store's copy is
// whole and is renamed in too.
func settle(dir string) error {
	dataNew, keysNew := filepath.Join(dir, DataFile+newSuffix), filepath.Join(dir, KeysFile+newSuffix)
	_, dataErr := os.Stat(dataNew)
	_, keysErr := os.Stat(keysNew)
	switch {
	case dataErr == nil:
		for _, p := range []string{keysNew, dataNew} {
			if err := removeFileSet(p); err != nil {
				return err
			}
		}
	case keysErr == nil:
		if err := removeFileSet(keysNew, "-journal"); err != nil {
			return err
		}
		if err := os.Rename(keysNew, filepath.Join(dir, KeysFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: finish the swap of the encrypted key store: %w", err)
		}
	default:
		return nil
	}
	return syncDir(dir)
}

// removeFileSet removes the file at path and its -journal, -wal and -shm files, or only those
// of suffixes when given.
func removeFileSet(path string, suffixes ...string) error {
	if suffixes == nil {
		suffixes = []string{"-journal", "-wal", "-shm", ""}
	}
	for _, s := range suffixes {
		if err := os.Remove(path + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	return nil
}

// syncDir syncs the directory dir, so that renames and removals in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sqlite: sync %s: %w", dir, err)
	}
	return nil
}
