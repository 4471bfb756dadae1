package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Config says where the keys live.
type Config struct {
	// RootKeyFile is the path of the 32-byte root key. Created (0600) on first start when Create
	// is set. Unused when Root is set.
	RootKeyFile string
	// Root, when set, is the root key instead of RootKeyFile (a key in a PKCS#11 token:
	// package keys/pkcs11). Its owner creates and closes it; Open uses it only while it runs.
	Root Root
	// KeysetFile is the path of the JSON file that holds the Tink keysets wrapped by the root key.
	KeysetFile string
	// Create allows creating the root key and keysets when they do not exist (tillit serve does;
	// other commands refuse to start on a missing key).
	Create bool
	// CacheSize bounds the number of unwrapped per-contact keys kept in memory (default 4096).
	CacheSize int
	// ReopenRoot, when Root is set, opens that root key again for a reload of the keysets
	// (Keyring.Refresh) and returns it with a function that closes it. Nil: a keyset file
	// changed under a Keyring opened with Root is not reloaded (Refresh fails).
	ReopenRoot func() (Root, func(), error)
}

// Keyring holds the unwrapped keysets and a bounded cache of per-contact data keys. It is safe
// for concurrent use.
type Keyring struct {
	// cur holds the keysets in use; a reload (Refresh) replaces it whole, so that every use
	// sees one consistent set.
	cur atomic.Pointer[loaded]
	rl  reloader

	dekParams *aesgcm.Parameters

	mu    sync.Mutex
	cache map[string]*cacheEntry
	order []string // FIFO eviction ring; cheap and bounded
	next  int
	limit int
}

type cacheEntry struct {
	version int
	key     *DataKey
}

// keysetFile is the on-disk shape of KeysetFile: each keyset is a Tink encrypted keyset (binary
// wire format) wrapped by the root key with associated data "tillit:keyset:" + name. Root is the
// Kind of the root key that wraps them; absent (files written before it was recorded): "file".
type keysetFile struct {
	Format  int               `json:"format"`
	Root    string            `json:"root,omitempty"`
	Keysets map[string][]byte `json:"keysets"`
}

func (kf keysetFile) rootKind() string {
	if kf.Root == "" {
		return RootFile
	}
	return kf.Root
}

// Open loads (or, when cfg.Create is set and nothing exists yet, creates) the root key and the
// keysets. created reports whether anything was created. A root key that does not open the
// keysets is an error, never a reason to make new ones.
func Open(cfg Config) (kr *Keyring, created bool, err error) {
	kek, rootCreated := cfg.Root, false
	if kek == nil {
		// A root key file is made only with the keysets: never for keysets that exist.
		kind, err := WrappedBy(cfg.KeysetFile)
		exists := !errors.Is(err, fs.ErrNotExist)
		if err == nil && kind != RootFile {
			return nil, false, fmt.Errorf("keys: keyset file %s is wrapped by a %s root key, not a file (%s)", cfg.KeysetFile, kind, rootSetting(kind))
		}
		if kek, rootCreated, err = OpenRootFile(cfg.RootKeyFile, cfg.Create && !exists); err != nil {
			return nil, false, err
		}
	}
	stamp, statErr := os.Stat(cfg.KeysetFile) // before reading: a change after it is seen by Refresh
	handles, setsCreated, err := loadOrCreateKeysets(cfg.KeysetFile, kek, cfg.Create)
	if err != nil {
		if _, serr := os.Stat(cfg.RootKeyFile + ".next"); cfg.Root == nil && serr == nil {
			err = fmt.Errorf("%w (a renewal of the root key was interrupted: run tillit keys rotate --root again to finish it)", err)
		}
		return nil, false, err
	}
	if statErr != nil {
		if stamp, err = os.Stat(cfg.KeysetFile); err != nil {
			return nil, false, fmt.Errorf("keys: %w", err)
		}
	}
	cur, err := newLoaded(handles, stamp)
	if err != nil {
		return nil, false, err
	}
	params, err := aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: 32, IVSizeInBytes: 12, TagSizeInBytes: 16, Variant: aesgcm.VariantNoPrefix,
	})
	if err != nil {
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	limit := cfg.CacheSize
	if limit <= 0 {
		limit = 4096
	}
	k := &Keyring{
		rl:        reloader{file: cfg.KeysetFile, rootFile: cfg.RootKeyFile, reopen: cfg.ReopenRoot, viaRoot: cfg.Root != nil},
		dekParams: params,
		cache:     make(map[string]*cacheEntry, limit), order: make([]string, limit), limit: limit,
	}
	k.cur.Store(cur)
	return k, rootCreated || setsCreated, nil
}

var keysetTemplates = map[string]func() (*keyset.Handle, error){
	"wrap": func() (*keyset.Handle, error) { return keyset.NewHandle(aead.AES256GCMKeyTemplate()) },
	"bidx": func() (*keyset.Handle, error) { return keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate()) },
	"disk": newDiskKeyset, // optional: absent from keyset files older than it
}

func loadOrCreateKeysets(path string, kek Root, create bool) (map[string]*keyset.Handle, bool, error) {
	kf, err := readKeysetFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, false, fmt.Errorf("keys: keyset file %s does not exist (run tillit serve once to create the keys)", path)
		}
		handles, err := createKeysets(path, kek)
		return handles, err == nil, err
	}
	if err != nil {
		return nil, false, err
	}
	if kf.rootKind() != kek.Kind() {
		return nil, false, fmt.Errorf("keys: keyset file %s is wrapped by a %s root key, not a %s one (%s)", path, kf.rootKind(), kek.Kind(), rootSetting(kf.rootKind()))
	}
	handles, err := unwrapKeysets(path, kf, kek)
	return handles, false, err
}

// rootSetting says how to name a root key of the given kind.
func rootSetting(kind string) string {
	if kind == RootPKCS11 {
		return "set TILLIT_ROOT_KEY to the pkcs11: URI of the key in its token"
	}
	return "set TILLIT_ROOT_KEY_FILE to the root key file, and leave TILLIT_ROOT_KEY unset"
}

// WrappedBy reads the keyset file at path and returns the Kind of the root key that wraps it.
func WrappedBy(path string) (string, error) {
	kf, err := readKeysetFile(path)
	if err != nil {
		return "", err
	}
	return kf.rootKind(), nil
}

func readKeysetFile(path string) (keysetFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return keysetFile{}, err
	}
	if err != nil {
		return keysetFile{}, fmt.Errorf("keys: read keysets: %w", err)
	}
	var kf keysetFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return keysetFile{}, fmt.Errorf("keys: keyset file %s: %w", path, err)
	}
	if kf.Format != 1 {
		return keysetFile{}, fmt.Errorf("keys: keyset file %s has format %d; want 1", path, kf.Format)
	}
	return kf, nil
}

func unwrapKeysets(path string, kf keysetFile, kek tink.AEAD) (map[string]*keyset.Handle, error) {
	handles := make(map[string]*keyset.Handle, len(keysetTemplates))
	for name := range keysetTemplates {
		blob, ok := kf.Keysets[name]
		if !ok && optionalKeysets[name] {
			continue
		}
		if !ok {
			return nil, fmt.Errorf("keys: keyset file %s has no %q keyset", path, name)
		}
		h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(blob)), kek, []byte("tillit:keyset:"+name))
		if err != nil {
			return nil, fmt.Errorf("keys: open %q keyset: %w", name, err)
		}
		handles[name] = h
	}
	return handles, nil
}

func createKeysets(path string, kek Root) (map[string]*keyset.Handle, error) {
	handles := make(map[string]*keyset.Handle, len(keysetTemplates))
	for name, newHandle := range keysetTemplates {
		h, err := newHandle()
		if err != nil {
			return nil, fmt.Errorf("keys: new %q keyset: %w", name, err)
		}
		handles[name] = h
	}
	if err := writeKeysets(path, handles, kek); err != nil {
		return nil, err
	}
	return handles, nil
}

// writeKeysets wraps handles under kek and writes them to the keyset file at path
// (replaceFile).
func writeKeysets(path string, handles map[string]*keyset.Handle, kek Root) error {
	data, err := marshalKeysets(handles, kek)
	if err != nil {
		return err
	}
	return replaceFile(path, data)
}

// marshalKeysets is the keyset file that holds handles wrapped under kek.
func marshalKeysets(handles map[string]*keyset.Handle, kek Root) ([]byte, error) {
	kf := keysetFile{Format: 1, Root: kek.Kind(), Keysets: map[string][]byte{}}
	for name, h := range handles {
		var buf bytes.Buffer
		if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), kek, []byte("tillit:keyset:"+name)); err != nil {
			return nil, fmt.Errorf("keys: wrap %q keyset: %w", name, err)
		}
		kf.Keysets[name] = buf.Bytes()
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return data, nil
}

// replaceFile replaces the file at path with data (mode 0600) atomically: a new file beside it,
// synced, renamed over it, and the directory synced, so that a crash leaves the old file or the
// new one, never a torn one.
func replaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("keys: write keysets: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keys: write keysets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keys: write keysets: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Rewrap moves the keyset file at path from the root key from to the root key to: it opens
// every keyset with from, wraps it under to, checks that to opens the result, and only then
// replaces the file (replaceFile). The keysets themselves are unchanged, so every per-contact
// key and blind index stays valid. from no longer opens the file afterwards; copies of the old
// file (backups) still need it.
func Rewrap(path string, from, to Root) error {
	kf, err := readKeysetFile(path)
	if err != nil {
		return err
	}
	if kf.rootKind() != from.Kind() {
		return fmt.Errorf("keys: keyset file %s is wrapped by a %s root key, not a %s one", path, kf.rootKind(), from.Kind())
	}
	handles, err := unwrapKeysets(path, kf, from)
	if err != nil {
		return err
	}
	data, err := marshalKeysets(handles, to)
	if err != nil {
		return err
	}
	var check keysetFile
	if err := json.Unmarshal(data, &check); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := unwrapKeysets(path, check, to); err != nil {
		return fmt.Errorf("keys: the keysets wrapped by the new root key do not open with it: %w", err)
	}
	return replaceFile(path, data)
}

// DataKeySize is the size of a per-contact data key in bytes (AES-256-GCM).
const DataKeySize = 32

// NewDataKey makes a fresh random data key for the contact with id contactID at key version
// version and returns it with its wrapped form (to be stored in the key store). The wrapped form
// is bound to contactID and version as associated data, so it cannot be moved to another contact.
func (k *Keyring) NewDataKey(contactID string, version int) (*DataKey, []byte, error) {
	raw := make([]byte, DataKeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	k.maybeRefresh()
	wrapped, err := k.cur.Load().wrap.Encrypt(raw, wrapAD(contactID, version))
	if err != nil {
		return nil, nil, fmt.Errorf("keys: wrap data key: %w", err)
	}
	dk, err := k.dataKey(raw, version)
	if err != nil {
		return nil, nil, err
	}
	k.remember(contactID, version, dk)
	return dk, wrapped, nil
}

// OpenDataKey unwraps the contact's stored data key, using the in-memory cache when it holds the
// same version.
func (k *Keyring) OpenDataKey(contactID string, version int, wrapped []byte) (*DataKey, error) {
	k.mu.Lock()
	if e, ok := k.cache[contactID]; ok && e.version == version {
		k.mu.Unlock()
		return e.key, nil
	}
	k.mu.Unlock()
	raw, err := k.cur.Load().wrap.Decrypt(wrapped, wrapAD(contactID, version))
	if err != nil && k.refreshAfterMiss() {
		// Wrapped under a key added since the keysets were read (a rotation in progress).
		raw, err = k.cur.Load().wrap.Decrypt(wrapped, wrapAD(contactID, version))
	}
	if err != nil {
		return nil, errors.New("keys: the wrapped data key does not open (wrong key ring, or the key belongs to another contact)")
	}
	dk, err := k.dataKey(raw, version)
	if err != nil {
		return nil, err
	}
	k.remember(contactID, version, dk)
	return dk, nil
}

// Forget drops the contact's data key from the cache. Erasure calls it after deleting the
// wrapped key, so that no plaintext key outlives the contact in memory.
func (k *Keyring) Forget(contactID string) {
	k.mu.Lock()
	delete(k.cache, contactID)
	k.mu.Unlock()
}

func (k *Keyring) remember(contactID string, version int, dk *DataKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.cache[contactID]; !ok {
		if old := k.order[k.next]; old != "" {
			delete(k.cache, old)
		}
		k.order[k.next] = contactID
		k.next = (k.next + 1) % k.limit
	}
	k.cache[contactID] = &cacheEntry{version: version, key: dk}
}

func (k *Keyring) dataKey(raw []byte, version int) (*DataKey, error) {
	key, err := aesgcm.NewKey(secretdata.NewBytesFromData(raw, insecuresecretdataaccess.Token{}), 0, k.dekParams)
	if err != nil {
		return nil, fmt.Errorf("keys: data key: %w", err)
	}
	m := keyset.NewManager()
	id, err := m.AddKey(key)
	if err != nil {
		return nil, fmt.Errorf("keys: data key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("keys: data key: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("keys: data key: %w", err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("keys: data key: %w", err)
	}
	return &DataKey{aead: a, version: version}, nil
}

func wrapAD(contactID string, version int) []byte {
	return []byte("tillit:dek:v1:" + contactID + ":" + strconv.Itoa(version))
}
