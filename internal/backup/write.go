package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// Writer assembles a backup file: each part is encrypted into a scratch file as it is added
// (Add), and Finish writes the file. Close it in any case: it removes the scratch files.
type Writer struct {
	dir   string // scratch directory
	parts []Part
	paths []string // the scratch file of each part
}

// NewWriter returns a Writer whose scratch files go into a new directory under scratch (the
// backup file's directory: no part is written there in plain, and the finished file is renamed
// from it).
func NewWriter(scratch string) (*Writer, error) {
	dir, err := os.MkdirTemp(scratch, ".tillit-backup-")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return &Writer{dir: dir}, nil
}

// Add adds the part name (DataPart, LedgerPart, KeysPart, in that order) holding the files holds:
// what fill writes is encrypted with age to recipients (the set named by to: ToData or ToKeys)
// as it is written.
func (w *Writer) Add(name string, holds []string, to string, recipients []age.Recipient, fill func(io.Writer) error) error {
	if len(recipients) == 0 {
		return fmt.Errorf("backup: part %s: no recipient", name)
	}
	path := filepath.Join(w.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	buf := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<16)
	enc, err := age.Encrypt(buf, recipients...)
	if err != nil {
		return fmt.Errorf("backup: part %s: %w", name, err)
	}
	if err := fill(enc); err != nil {
		return fmt.Errorf("backup: part %s: %w", name, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("backup: part %s: %w", name, err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("backup: part %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	w.parts = append(w.parts, Part{Name: name, Holds: holds, EncryptedTo: to, Size: fi.Size(), SHA256: hex.EncodeToString(h.Sum(nil))})
	w.paths = append(w.paths, path)
	return f.Close()
}

// Finish completes m with the parts added and the signer, signs it with key, and writes the
// backup file to path: into a new file beside it, synced, then renamed over path (a file there
// is replaced only by a whole backup), and the directory synced. It returns the manifest as
// written. The file is read back and checked (Open) before it is renamed.
func (w *Writer) Finish(path string, m Manifest, key ed25519.PrivateKey) (Manifest, error) {
	m.Format, m.Version = Format, Version
	m.CreatedAt = m.CreatedAt.UTC().Truncate(time.Second)
	m.Signer = VerifyKeyOf(key).String()
	m.Parts = w.parts
	if err := m.check(); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	mb = append(mb, '\n')
	tmp := filepath.Join(w.dir, "backup")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<16)
	tw := tar.NewWriter(bw)
	put := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(header(name, size, m.CreatedAt)); err != nil {
			return err
		}
		if n, err := io.Copy(tw, r); err != nil || n != size {
			return fmt.Errorf("%s: wrote %d of %d bytes: %v", name, n, size, err)
		}
		return nil
	}
	sig := sign(key, mb)
	err = put(ManifestName, int64(len(mb)), bytes.NewReader(mb))
	if err == nil {
		err = put(SignatureName, int64(len(sig)), bytes.NewReader(sig))
	}
	for i, p := range w.parts {
		if err != nil {
			break
		}
		var pf *os.File
		if pf, err = os.Open(w.paths[i]); err != nil {
			break
		}
		err = put(p.Name, p.Size, pf)
		pf.Close()
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: write %s: %w", path, err)
	}
	b, err := Open(tmp, VerifyKeyOf(key))
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: the file written does not read back: %w", err)
	}
	b.Close()
	if err := os.Rename(tmp, path); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return m, nil
}

// Close removes the scratch files (and the unfinished file, when Finish did not rename it).
func (w *Writer) Close() error { return os.RemoveAll(w.dir) }

// header is the tar header every file of a backup, and of its keys part, has.
func header(name string, size int64, at time.Time) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: at.UTC().Truncate(time.Second)}
}

// File is one file of a part that holds several (the keys part).
type File struct {
	Name string
	Size int64
	R    io.Reader // Size bytes
}

// WriteFiles writes files into w as a tar (the keys part's content), with at as their time.
func WriteFiles(w io.Writer, at time.Time, files ...File) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		if err := tw.WriteHeader(header(f.Name, f.Size, at)); err != nil {
			return err
		}
		if n, err := io.Copy(tw, f.R); err != nil || n != f.Size {
			return fmt.Errorf("%s: wrote %d of %d bytes: %v", f.Name, n, f.Size, err)
		}
	}
	return tw.Close()
}

// Files reads the files of a part that holds several (WriteFiles), in order.
type Files struct{ tr *tar.Reader }

// NewFiles reads the files of the part r.
func NewFiles(r io.Reader) *Files { return &Files{tr: tar.NewReader(r)} }

// Next returns the next file, which must be called name, and its size; its bytes are to be read
// before the next call.
func (f *Files) Next(name string) (io.Reader, int64, error) {
	h, err := f.tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("backup: the part ends before %s", name)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %s: %w", name, err)
	}
	if h.Name != name || h.Typeflag != tar.TypeReg {
		return nil, 0, fmt.Errorf("backup: the part holds %q where %s was expected", h.Name, name)
	}
	return f.tr, h.Size, nil
}
