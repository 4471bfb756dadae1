package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"filippo.io/age"
)

// ErrRefused is wrapped by every error of Open that refuses a file: it is not a backup of this
// format, or not whole, or not as signed.
var ErrRefused = errors.New("backup refused")

// Backup is a backup file that Open checked whole.
type Backup struct {
	Manifest Manifest
	Size     int64 // bytes
	path     string
	f        *os.File
	offsets  map[string]int64 // where each part's bytes begin
}

// Open opens the backup file at path and checks it whole before anything in it is decrypted:
// the signature over the manifest under key, the manifest (this format, a version this reader
// reads, the format's parts), every part's SHA-256 and every other byte of the file (see the
// package doc). Every refusal wraps ErrRefused and says what failed, never with anything of the
// parts' content.
func Open(path string, key VerifyKey) (_ *Backup, err error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, errors.New("backup: no verify key")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrRefused, path}, args...)...)
	}
	tr := tar.NewReader(f)
	mb, err := entry(tr, ManifestName, maxManifest)
	if err != nil {
		return nil, refuse("not a Tillit backup file, or damaged at its start: %v", err)
	}
	sig, err := entry(tr, SignatureName, ed25519.SignatureSize)
	if err != nil {
		return nil, refuse("not a Tillit backup file, or damaged at its start: %v", err)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(key), signed(mb), sig) {
		hint := "the file was changed since it was signed, or another installation signed it"
		if m, err := parseManifest(mb); err == nil && m.Signer != "" && m.Signer != key.String() {
			hint = "its manifest names the signer " + m.Signer + " (another installation's, or changed)"
		}
		return nil, refuse("the signature does not verify under the verify key given (%s): %s", key, hint)
	}
	m, err := parseManifest(mb)
	if err != nil {
		return nil, refuse("%v", err)
	}
	if err := m.check(); err != nil {
		return nil, refuse("%v", err)
	}
	offsets, err := checkLayout(f, m, mb, sig)
	if err != nil {
		return nil, refuse("%v", err)
	}
	return &Backup{Manifest: m, Size: fi.Size(), path: path, f: f, offsets: offsets}, nil
}

// entry reads the next file of tr, which must be a regular file called name of at most max bytes.
func entry(tr *tar.Reader, name string, max int64) ([]byte, error) {
	h, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("no %s", name)
	}
	if err != nil {
		return nil, err
	}
	if h.Name != name || h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%q where %s was expected", h.Name, name)
	}
	if h.Size > max {
		return nil, fmt.Errorf("%s of %d bytes (at most %d)", name, h.Size, max)
	}
	b := make([]byte, h.Size)
	if _, err := io.ReadFull(tr, b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// checkLayout reads f from its start and checks every byte against what Writer writes for m:
// headers, the manifest and signature, padding and the end of the archive exactly, and each
// part's bytes by their SHA-256. It returns where each part's bytes begin.
func checkLayout(f *os.File, m Manifest, manifest, sig []byte) (map[string]int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	r := &layoutReader{r: bufio.NewReaderSize(f, 1<<16)}
	if err := r.file(ManifestName, m.CreatedAt, manifest); err != nil {
		return nil, err
	}
	if err := r.file(SignatureName, m.CreatedAt, sig); err != nil {
		return nil, err
	}
	offsets := map[string]int64{}
	for _, p := range m.Parts {
		if err := r.expect(p.Name+"'s header", headerBytes(p.Name, p.Size, m.CreatedAt)); err != nil {
			return nil, err
		}
		offsets[p.Name] = r.off
		h := sha256.New()
		if n, err := io.CopyN(h, r, p.Size); err != nil {
			return nil, fmt.Errorf("the file ends inside %s, %d of its %d bytes in (cut short)", p.Name, n, p.Size)
		}
		if hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
			return nil, fmt.Errorf("part %s does not hash to the manifest's SHA-256: it was changed, or is another backup's", p.Name)
		}
		if err := r.expect(p.Name+"'s padding", make([]byte, padding(p.Size))); err != nil {
			return nil, err
		}
	}
	if err := r.expect("the end of the archive", make([]byte, 2*512)); err != nil {
		return nil, err
	}
	if n, _ := io.Copy(io.Discard, r.r); n > 0 {
		return nil, fmt.Errorf("%d bytes after the end of the archive", n)
	}
	return offsets, nil
}

// layoutReader reads a backup file from its start, counting the offset.
type layoutReader struct {
	r   *bufio.Reader
	off int64
}

func (l *layoutReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.off += int64(n)
	return n, err
}

// expect reads len(want) bytes, which must be want; what names them in errors.
func (l *layoutReader) expect(what string, want []byte) error {
	got := make([]byte, len(want))
	n, err := io.ReadFull(l, got)
	if err != nil {
		return fmt.Errorf("the file ends inside %s (cut short)", what)
	}
	if i := firstDiff(got[:n], want); i >= 0 {
		return fmt.Errorf("%s differs from the format's at byte %d of the file", what, l.off-int64(n)+int64(i))
	}
	return nil
}

// file reads a whole small file of the archive: its header, content and padding.
func (l *layoutReader) file(name string, at time.Time, content []byte) error {
	if err := l.expect(name+"'s header", headerBytes(name, int64(len(content)), at)); err != nil {
		return err
	}
	if err := l.expect(name, content); err != nil {
		return err
	}
	return l.expect(name+"'s padding", make([]byte, padding(int64(len(content)))))
}

// firstDiff returns the index of the first byte where a and b differ, -1 when they do not.
func firstDiff(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return len(a)
	}
	return -1
}

// headerBytes is the tar header (with a PAX header before it for a file above USTAR's limits)
// a writer writes for a file of a backup.
func headerBytes(name string, size int64, at time.Time) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(header(name, size, at))
	return buf.Bytes()
}

// padding is the number of zero bytes after a file of size bytes in a tar archive.
func padding(size int64) int64 { return (512 - size%512) % 512 }

// Part returns the decrypted bytes of the part name, opened with identities. The part's bytes
// are hashed again as they are read: when they no longer match the manifest (the file changed
// since Open), the reader fails at the end instead of reaching io.EOF. An error names the part
// and, when no identity opens it, the recipients it is encrypted to.
func (b *Backup) Part(name string, identities []age.Identity) (io.Reader, error) {
	p, ok := b.Manifest.Part(name)
	if !ok {
		return nil, fmt.Errorf("backup: %s has no part %s", b.path, name)
	}
	raw := &checkedReader{r: io.NewSectionReader(b.f, b.offsets[name], p.Size), h: sha256.New(), want: p.SHA256, name: name}
	dec, err := age.Decrypt(raw, identities...)
	var none *age.NoIdentityMatchError
	if errors.As(err, &none) {
		return nil, fmt.Errorf("backup: none of the identities given opens part %s, which is encrypted to the %s recipients", name, p.EncryptedTo)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: part %s: %w", name, err)
	}
	return &partReader{dec: dec, raw: raw, name: name}, nil
}

// Close closes the file.
func (b *Backup) Close() error { return b.f.Close() }

// checkedReader hashes what it reads and, at the end, fails unless the hash is want.
type checkedReader struct {
	r    io.Reader
	h    hash.Hash
	want string
	name string
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if errors.Is(err, io.EOF) && hex.EncodeToString(c.h.Sum(nil)) != c.want {
		return n, fmt.Errorf("%w: part %s changed since the backup file was checked", ErrRefused, c.name)
	}
	return n, err
}

// partReader is a part's decrypted bytes; at their end it reads the rest of the part's stored
// bytes, so that their hash is checked.
type partReader struct {
	dec  io.Reader
	raw  *checkedReader
	name string
}

func (p *partReader) Read(b []byte) (int, error) {
	n, err := p.dec.Read(b)
	if errors.Is(err, io.EOF) {
		if _, derr := io.Copy(io.Discard, p.raw); derr != nil {
			return n, derr
		}
	} else if err != nil {
		err = fmt.Errorf("backup: part %s: %w", p.name, err)
	}
	return n, err
}
