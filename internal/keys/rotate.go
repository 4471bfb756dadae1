package keys

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Keyset names in the keyset file.
const (
	KeysetWrap = "wrap" // AEAD: wraps the per-contact data keys
	KeysetBidx = "bidx" // PRF: blind indexes, suppression hashes, the audit anchor's MAC
)

// RefreshInterval is how often a Keyring in use looks at its keyset file (a stat) for a change:
// a process that wraps a new data key or computes a blind index has the keysets the file holds
// at most this long after the file was replaced. A failed unwrap looks at once.
const RefreshInterval = time.Second

// KeyInfo is one key of a keyset, as facts that reveal nothing of the key: Tink's key id (the
// 4 bytes after the version byte of every ciphertext of a TINK-prefixed key), its status and
// whether it is the primary (the key new ciphertexts and indexes are made with).
type KeyInfo struct {
	ID      uint32 `json:"id"`
	Status  string `json:"status"` // "enabled" or "disabled"
	Primary bool   `json:"primary,omitempty"`
}

// KeysetInfo is a keyset's keys in the keyset's order (Tink appends a new key last).
type KeysetInfo struct {
	Primary uint32    `json:"primary"`
	Keys    []KeyInfo `json:"keys"`
}

// Key returns the key with id and whether the keyset has it.
func (s KeysetInfo) Key(id uint32) (KeyInfo, bool) {
	for _, k := range s.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return KeyInfo{}, false
}

// Newest returns the key added last (the zero KeyInfo for an empty keyset).
func (s KeysetInfo) Newest() KeyInfo {
	if len(s.Keys) == 0 {
		return KeyInfo{}
	}
	return s.Keys[len(s.Keys)-1]
}

// Equal reports whether s and o list the same keys, statuses and primary in the same order.
func (s KeysetInfo) Equal(o KeysetInfo) bool {
	if s.Primary != o.Primary || len(s.Keys) != len(o.Keys) {
		return false
	}
	for i := range s.Keys {
		if s.Keys[i] != o.Keys[i] {
			return false
		}
	}
	return true
}

func (s KeysetInfo) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func infoOf(h *keyset.Handle) KeysetInfo {
	var ki KeysetInfo
	for i := 0; i < h.Len(); i++ {
		e, err := h.Entry(i)
		if err != nil {
			continue
		}
		k := KeyInfo{ID: e.KeyID(), Status: "disabled", Primary: e.IsPrimary()}
		if e.KeyStatus() == keyset.Enabled {
			k.Status = "enabled"
		}
		if k.Primary {
			ki.Primary = k.ID
		}
		ki.Keys = append(ki.Keys, k)
	}
	return ki
}

// loaded is one reading of the keyset file: the primitives and what they were made of.
type loaded struct {
	wrap tink.AEAD
	bidx *prf.Set
	// bidxOrder is the ids of bidx's enabled keys, the primary first (BlindIndexes).
	bidxOrder []uint32
	// bidxOldest is the id of bidx's first enabled key in the keyset's order (BackupSigningKey).
	bidxOldest uint32
	disk       []DiskKey // the SQLite files' keys, primary first (disk.go); none before encrypt-disk
	info       map[string]KeysetInfo
	stamp      os.FileInfo // the keyset file's, taken before it was read
}

func newLoaded(handles map[string]*keyset.Handle, stamp os.FileInfo) (*loaded, error) {
	wrap, err := aead.New(handles[KeysetWrap])
	if err != nil {
		return nil, fmt.Errorf("keys: wrap keyset: %w", err)
	}
	bidx, err := prf.NewPRFSet(handles[KeysetBidx])
	if err != nil {
		return nil, fmt.Errorf("keys: bidx keyset: %w", err)
	}
	disk, err := diskKeys(handles[diskKeyset])
	if err != nil {
		return nil, err
	}
	info := make(map[string]KeysetInfo, len(handles))
	for name, h := range handles {
		info[name] = infoOf(h)
	}
	order := bidxOrder(bidx, info[KeysetBidx])
	oldest := bidx.PrimaryID
	for _, k := range info[KeysetBidx].Keys {
		if _, ok := bidx.PRFs[k.ID]; ok {
			oldest = k.ID
			break
		}
	}
	return &loaded{wrap: wrap, bidx: bidx, bidxOrder: order, bidxOldest: oldest, disk: disk, info: info, stamp: stamp}, nil
}

// reloader is how a Keyring reads its keyset file again.
type reloader struct {
	file     string
	rootFile string                       // the root key file, read again for each reload
	viaRoot  bool                         // opened with Config.Root: reopen is the way
	reopen   func() (Root, func(), error) // Config.ReopenRoot

	mu      sync.Mutex   // one reload at a time
	next    atomic.Int64 // Unix nanoseconds of the next lazy look (maybeRefresh)
	lastErr atomic.Pointer[error]
}

// sameFile reports whether a and b are the same version of a file: the same inode (a replaced
// keyset file is a new one: replaceFile renames), size and modification time.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Info returns the facts of the keysets in use (KeysetInfo by keyset name): no key material.
func (k *Keyring) Info() map[string]KeysetInfo {
	cur := k.cur.Load().info
	out := make(map[string]KeysetInfo, len(cur))
	for n, i := range cur {
		out[n] = i
	}
	return out
}

// Refresh reads the keyset file again when it changed since it was last read (another process
// rotated a key: keys rotate) and from then on uses what it holds; changed reports that. On an
// error the keysets in use stay as they were. Safe for concurrent use with every other method:
// a use sees the keysets before or after, never a mix.
func (k *Keyring) Refresh() (changed bool, err error) {
	k.rl.mu.Lock()
	defer k.rl.mu.Unlock()
	return k.refreshLocked()
}

func (k *Keyring) refreshLocked() (bool, error) {
	changed, err := k.reload()
	if err != nil {
		k.rl.lastErr.Store(&err)
	} else {
		k.rl.lastErr.Store(nil)
	}
	return changed, err
}

// RefreshError returns the error of the last reload that failed, nil when the last one
// succeeded (or none was needed).
func (k *Keyring) RefreshError() error {
	if p := k.rl.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (k *Keyring) reload() (bool, error) {
	st, err := os.Stat(k.rl.file)
	if err != nil {
		return false, fmt.Errorf("keys: keyset file: %w", err)
	}
	if sameFile(k.cur.Load().stamp, st) {
		return false, nil
	}
	var root Root
	switch {
	case k.rl.viaRoot && k.rl.reopen == nil:
		return false, fmt.Errorf("keys: keyset file %s changed, and its root key cannot be opened again to read it: restart", k.rl.file)
	case k.rl.viaRoot:
		r, closeRoot, err := k.rl.reopen()
		if err != nil {
			return false, err
		}
		defer closeRoot()
		root = r
	default:
		if root, _, err = OpenRootFile(k.rl.rootFile, false); err != nil {
			return false, err
		}
	}
	kf, err := readKeysetFile(k.rl.file)
	if err != nil {
		return false, err
	}
	if !k.rl.viaRoot {
		// A root key file renewed in place (RenewRootFile) between its re-wrap of the keyset
		// file and the rename of the new key over the old: the new key is beside it.
		if next, _, nerr := OpenRootFile(k.rl.rootFile+".next", false); nerr == nil {
			if _, uerr := unwrapKeysets(k.rl.file, kf, root); uerr != nil {
				root = next
			}
		}
	}
	if kf.rootKind() != root.Kind() {
		return false, fmt.Errorf("keys: keyset file %s is now wrapped by a %s root key, not a %s one (%s), and was not reloaded", k.rl.file, kf.rootKind(), root.Kind(), rootSetting(kf.rootKind()))
	}
	handles, err := unwrapKeysets(k.rl.file, kf, root)
	if err != nil {
		return false, fmt.Errorf("%w (the keysets in use are kept)", err)
	}
	l, err := newLoaded(handles, st)
	if err != nil {
		return false, err
	}
	k.cur.Store(l)
	return true, nil
}

// maybeRefresh refreshes when RefreshInterval has passed since the last look, unless another
// goroutine is at it.
func (k *Keyring) maybeRefresh() {
	now := time.Now().UnixNano()
	next := k.rl.next.Load()
	if now < next || !k.rl.next.CompareAndSwap(next, now+int64(RefreshInterval)) {
		return
	}
	if k.rl.mu.TryLock() {
		defer k.rl.mu.Unlock()
		_, _ = k.refreshLocked()
	}
}

// refreshAfterMiss refreshes after an unwrap failed and reports whether the keysets changed.
func (k *Keyring) refreshAfterMiss() bool {
	changed, _ := k.Refresh()
	return changed
}

// WrapKeyID returns the id of the wrap key that made wrapped, read from Tink's 5-byte output
// prefix (version byte 0x01, then the key id, big-endian); ok is false for a ciphertext without
// that prefix.
func WrapKeyID(wrapped []byte) (id uint32, ok bool) {
	if len(wrapped) < 5 || wrapped[0] != 0x01 {
		return 0, false
	}
	return binary.BigEndian.Uint32(wrapped[1:5]), true
}

// Rewrap returns the data key wrapped (by NewDataKey, for ownerID at version) wrapped again
// under the primary key of the wrap keyset in use; changed is false, and out nil, when it is
// under that key already. The data key itself stays the same, so every field sealed with it
// still opens. An error names the owner (an id, never personal data).
func (k *Keyring) Rewrap(ownerID string, version int, wrapped []byte) (out []byte, changed bool, err error) {
	cur := k.cur.Load()
	if id, ok := WrapKeyID(wrapped); ok && id == cur.info[KeysetWrap].Primary {
		return nil, false, nil
	}
	ad := wrapAD(ownerID, version)
	raw, err := cur.wrap.Decrypt(wrapped, ad)
	if err != nil {
		return nil, false, fmt.Errorf("keys: the data key of %s (version %d) does not unwrap under any key of the wrap keyset", ownerID, version)
	}
	if out, err = cur.wrap.Encrypt(raw, ad); err != nil {
		return nil, false, fmt.Errorf("keys: wrap data key: %w", err)
	}
	return out, true, nil
}

// keyTemplates are the templates of the keys AddKey makes, by keyset name: the same as
// keysetTemplates'.
var keyTemplates = map[string]func() *tinkpb.KeyTemplate{
	KeysetWrap: aead.AES256GCMKeyTemplate,
	KeysetBidx: prf.HMACSHA256PRFKeyTemplate,
}

// ReadInfo opens the keyset file at path with root and returns the facts of each keyset
// (KeysetInfo by name).
func ReadInfo(path string, root Root) (map[string]KeysetInfo, error) {
	kf, err := readKeysetFile(path)
	if err != nil {
		return nil, err
	}
	handles, err := unwrapKeysets(path, kf, root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]KeysetInfo, len(handles))
	for n, h := range handles {
		out[n] = infoOf(h)
	}
	return out, nil
}

// AddKey adds a new key, enabled and not primary, to the keyset name (KeysetWrap, KeysetBidx)
// in the keyset file at path, and returns its id: Tink's first step of a rotation. Every
// process that reads the file can then use it to open, none makes anything with it yet.
func AddKey(path string, root Root, name string) (uint32, error) {
	tmpl, ok := keyTemplates[name]
	if !ok {
		return 0, fmt.Errorf("keys: no keyset %q to add a key to", name)
	}
	var id uint32
	_, err := editKeyset(path, root, name, func(m *keyset.Manager) error {
		var err error
		id, err = m.Add(tmpl())
		return err
	})
	return id, err
}

// SetPrimary makes the key id of the keyset name the primary in the keyset file at path.
func SetPrimary(path string, root Root, name string, id uint32) error {
	_, err := editKeyset(path, root, name, func(m *keyset.Manager) error { return m.SetPrimary(id) })
	return err
}

// DisableKey disables the key id (not the primary) of the keyset name: kept in the file, used
// by nothing.
func DisableKey(path string, root Root, name string, id uint32) error {
	_, err := editKeyset(path, root, name, func(m *keyset.Manager) error { return m.Disable(id) })
	return err
}

// EnableKey enables the disabled key id of the keyset name again.
func EnableKey(path string, root Root, name string, id uint32) error {
	_, err := editKeyset(path, root, name, func(m *keyset.Manager) error { return m.Enable(id) })
	return err
}

// DeleteKey removes the key id (not the primary) of the keyset name from the keyset file at
// path. What it alone opened opens no more, from this file; copies made before still hold it.
func DeleteKey(path string, root Root, name string, id uint32) error {
	_, err := editKeyset(path, root, name, func(m *keyset.Manager) error { return m.Delete(id) })
	return err
}

// editKeyset applies edit to the keyset name of the keyset file at path and replaces the file
// (replaceFile) with the result wrapped under root. The other keysets are kept byte for byte,
// those this version does not know included.
func editKeyset(path string, root Root, name string, edit func(*keyset.Manager) error) (KeysetInfo, error) {
	kf, err := readKeysetFile(path)
	if err != nil {
		return KeysetInfo{}, err
	}
	if kf.rootKind() != root.Kind() {
		return KeysetInfo{}, fmt.Errorf("keys: keyset file %s is wrapped by a %s root key, not a %s one (%s)", path, kf.rootKind(), root.Kind(), rootSetting(kf.rootKind()))
	}
	blob, ok := kf.Keysets[name]
	if !ok {
		return KeysetInfo{}, fmt.Errorf("keys: keyset file %s has no %q keyset", path, name)
	}
	ad := []byte("tillit:keyset:" + name)
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(blob)), root, ad)
	if err != nil {
		return KeysetInfo{}, fmt.Errorf("keys: open %q keyset: %w", name, err)
	}
	m := keyset.NewManagerFromHandle(h)
	if err := edit(m); err != nil {
		return KeysetInfo{}, fmt.Errorf("keys: %q keyset: %w", name, err)
	}
	if h, err = m.Handle(); err != nil {
		return KeysetInfo{}, fmt.Errorf("keys: %q keyset: %w", name, err)
	}
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), root, ad); err != nil {
		return KeysetInfo{}, fmt.Errorf("keys: wrap %q keyset: %w", name, err)
	}
	kf.Keysets[name] = buf.Bytes()
	if kf.Format == 0 {
		return KeysetInfo{}, errors.New("keys: keyset file without format")
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return KeysetInfo{}, fmt.Errorf("keys: %w", err)
	}
	if err := replaceFile(path, data); err != nil {
		return KeysetInfo{}, err
	}
	return infoOf(h), nil
}
