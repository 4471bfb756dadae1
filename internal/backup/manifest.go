package backup

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Format and Version name the format in every manifest; a reader refuses a greater version.
const (
	Format  = "tillit-backup"
	Version = 1
)

// Names of the files in a backup file (see the package doc), in their order.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
	DataPart      = "data.age"
	LedgerPart    = "ledger.age"
	KeysPart      = "keys.age"
)

// Recipient sets a part is encrypted to (Part.EncryptedTo).
const (
	ToData = "data" // the data recipients (tillit backup --recipient)
	ToKeys = "keys" // the key recipients (--keys-recipient; the data recipients when none)
)

// signatureContext starts the message the signature is made over, before the manifest's bytes:
// a signature of anything else under the same key never passes for a backup's.
const signatureContext = "tillit-backup manifest v1\n"

// maxManifest bounds the size of a manifest a reader accepts, in bytes.
const maxManifest = 1 << 20

// Manifest describes a backup file. It is stored in plain and signed: it holds no personal data
// (times, counts, hashes, ids of keys).
type Manifest struct {
	Format  string `json:"format"`  // Format
	Version int    `json:"version"` // Version
	// CreatedAt is when the snapshot was taken (its read transaction began), UTC.
	CreatedAt time.Time `json:"created_at"`
	// Installation names the installation by its blind-index key id (keys.Keyring.IndexKeyID,
	// as the ledger's header does): the same for its restores, another for any other.
	Installation string `json:"installation"`
	// IndexKeys names every blind-index key of the installation's set when the backup was made
	// (keys.Keyring.IndexKeyIDs, Installation first): after a rotation (keys rotate --bidx) a
	// ledger exported before it names an older key, whose hashes still match. Absent in backups
	// made before it was recorded.
	IndexKeys []string `json:"index_keys,omitempty"`
	// Signer is the verify key of the key that signed (VerifyKey.String). For messages only: a
	// reader checks the signature against the key it is given.
	Signer string    `json:"signer"`
	Store  Store     `json:"store"`
	Ledger Ledger    `json:"ledger"`
	Keys   *KeysInfo `json:"keys,omitempty"` // the key part's; nil when the file has none
	Parts  []Part    `json:"parts"`
}

// Store says what the data file and key store are: the point of the store the snapshot holds.
type Store struct {
	Backend       string `json:"backend"`        // "sqlite"
	SchemaVersion int    `json:"schema_version"` // the highest migration applied
	CommitMarker  int64  `json:"commit_marker"`  // the data file's commit marker
	AuditSeq      int64  `json:"audit_seq"`      // the newest audit event in the snapshot (0: none)
	AuditHash     string `json:"audit_hash"`     // its hash, hex ("" when none)
}

// Ledger says what the ledger part holds: a whole export (every choice Tillit recorded), read
// after the snapshot, so that it also holds what was decided while the snapshot was copied.
type Ledger struct {
	// ExportedAt is when the export's read began (after CreatedAt).
	ExportedAt time.Time `json:"exported_at"`
	// Lines is the number of lines after the header.
	Lines int `json:"lines"`
	// ReplaySince is the --since of a newer tillit ledger export that a restore of this backup
	// needs at the least: CreatedAt less an hour (a transaction may have begun before the
	// snapshot and committed after it; a replay of what the backup holds already applies
	// nothing).
	ReplaySince time.Time `json:"replay_since"`
}

// KeysInfo is the key part's: its retention.
type KeysInfo struct {
	// ExpiresAt is when the key part's retention ends: tillit restore refuses it from then on,
	// so that the key of a person erased since does not come back from an old backup.
	ExpiresAt time.Time `json:"expires_at"`
}

// Part is one encrypted part of a backup file.
type Part struct {
	Name        string   `json:"name"`         // DataPart, LedgerPart or KeysPart
	Holds       []string `json:"holds"`        // the files in it ("tillit.db"; "keysets.json", "keys.db")
	EncryptedTo string   `json:"encrypted_to"` // ToData or ToKeys
	Size        int64    `json:"size"`         // bytes as stored (encrypted)
	SHA256      string   `json:"sha256"`       // of the bytes as stored, hex
}

// Part returns the manifest's part called name, and whether it has one.
func (m *Manifest) Part(name string) (Part, bool) {
	for _, p := range m.Parts {
		if p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}

// check refuses a manifest this reader cannot read whole: another format, a newer version, or
// parts other than the format's, in another order.
func (m *Manifest) check() error {
	if m.Format != Format {
		return fmt.Errorf("the manifest's format is %q, not %q", m.Format, Format)
	}
	if m.Version != Version {
		return fmt.Errorf("format version %d; this Tillit reads version %d (restore with the Tillit that made it, or a newer one)", m.Version, Version)
	}
	if m.CreatedAt.IsZero() {
		return errors.New("the manifest has no created_at")
	}
	want := []string{DataPart, LedgerPart}
	if m.Keys != nil {
		want = append(want, KeysPart)
	}
	if len(m.Parts) != len(want) {
		return fmt.Errorf("the manifest lists %d parts; want %s", len(m.Parts), strings.Join(want, ", "))
	}
	for i, p := range m.Parts {
		if p.Name != want[i] {
			return fmt.Errorf("part %d is %q; want %q", i+1, p.Name, want[i])
		}
		if p.Size < 0 {
			return fmt.Errorf("part %s: size %d", p.Name, p.Size)
		}
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
			return fmt.Errorf("part %s: sha256 %q is not 64 hex digits", p.Name, p.SHA256)
		}
	}
	return nil
}

// parseManifest reads a manifest strictly: unknown fields and trailing data are refused.
func parseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("the manifest does not parse: %v", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("the manifest has data after its object")
	}
	return m, nil
}

// VerifyKey is the public half of a backup signing key (Ed25519), which tillit restore checks a
// backup's signature against. Its text form is "tillit-backup-ed25519:" and the key in unpadded
// base64url (RFC 4648 §5).
type VerifyKey ed25519.PublicKey

// verifyKeyPrefix starts a VerifyKey's text form.
const verifyKeyPrefix = "tillit-backup-ed25519:"

// VerifyKeyOf returns the verify key of the signing key priv.
func VerifyKeyOf(priv ed25519.PrivateKey) VerifyKey {
	return VerifyKey(priv.Public().(ed25519.PublicKey))
}

// String is the key's text form.
func (k VerifyKey) String() string {
	return verifyKeyPrefix + base64.RawURLEncoding.EncodeToString(k)
}

// ParseVerifyKey reads a verify key's text form (surrounding space ignored).
func ParseVerifyKey(s string) (VerifyKey, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, verifyKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("backup: a verify key starts with %q", verifyKeyPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("backup: a verify key is %q and %d bytes in unpadded base64url", verifyKeyPrefix, ed25519.PublicKeySize)
	}
	return VerifyKey(b), nil
}

// sign signs the manifest's bytes.
func sign(key ed25519.PrivateKey, manifest []byte) []byte {
	return ed25519.Sign(key, signed(manifest))
}

// signed is the message a signature is made over.
func signed(manifest []byte) []byte {
	return append([]byte(signatureContext), manifest...)
}

// Names reports whether the installation named id is this backup's: Installation or one of
// IndexKeys.
func (m Manifest) Names(id string) bool {
	return id == m.Installation || slices.Contains(m.IndexKeys, id)
}

// SameInstallation reports whether o names a key m names (Names): the two are backups of one
// installation, before and after a rotation of its blind-index key included.
func (m Manifest) SameInstallation(o Manifest) bool {
	return slices.ContainsFunc(append([]string{o.Installation}, o.IndexKeys...), m.Names)
}
