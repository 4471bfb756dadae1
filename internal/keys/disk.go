package keys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// The disk keyset encrypts the SQLite files (DESIGN §4; research/crypto-design.md §6.1): a Tink
// PRF keyset (HMAC-SHA256) from each key of which one 32-byte Adiantum key is derived, the PRF's
// output on the fixed label diskLabel. A keyset, not a raw key, so that its keys carry Tink ids
// and a rotation adds a key beside the old one until the files are copied under the new.
//
// Which key a file is under is not recorded anywhere: the file tells (the store tries each key
// on its first block), so a restored backup, an interrupted conversion or rotation always
// opens with the keys the keyset holds. Installations from before disk encryption have keysets
// without "disk" (optional: Open loads them as they are); tillit keys encrypt-disk adds it.

// DiskKeySize is the size in bytes of a disk key (an Adiantum key).
const DiskKeySize = 32

// diskLabel is the PRF input a disk key is derived from.
const diskLabel = "tillit:disk:v1"

// diskKeyset is the name of the disk keyset in the keyset file.
const diskKeyset = "disk"

// optionalKeysets are keysets a keyset file may lack: it was written before they existed.
var optionalKeysets = map[string]bool{diskKeyset: true}

// newDiskKeyset makes a disk keyset of one key.
func newDiskKeyset() (*keyset.Handle, error) {
	return keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
}

// DiskKey is one key of the disk keyset: its Tink key id and the Adiantum key derived from it.
type DiskKey struct {
	ID  uint32
	Key []byte // DiskKeySize bytes; never logged
}

// diskKeys derives the disk keys of h, the primary first, then the others in keyset order; none
// when h is nil (a keyset file without a disk keyset).
func diskKeys(h *keyset.Handle) ([]DiskKey, error) {
	if h == nil {
		return nil, nil
	}
	set, err := prf.NewPRFSet(h)
	if err != nil {
		return nil, fmt.Errorf("keys: disk keyset: %w", err)
	}
	derive := func(id uint32) (DiskKey, error) {
		k, err := set.PRFs[id].ComputePRF([]byte(diskLabel), DiskKeySize)
		if err != nil {
			return DiskKey{}, fmt.Errorf("keys: disk key %d: %w", id, err)
		}
		return DiskKey{ID: id, Key: k}, nil
	}
	primary, err := derive(set.PrimaryID)
	if err != nil {
		return nil, err
	}
	out := []DiskKey{primary}
	for _, info := range h.KeysetInfo().GetKeyInfo() {
		if id := info.GetKeyId(); id != set.PrimaryID {
			if _, ok := set.PRFs[id]; !ok {
				continue // disabled
			}
			k, err := derive(id)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// DiskKeys returns the keys the SQLite files may be encrypted with, the primary (the one new
// files are written under) first; none for an installation whose keyset file has no disk keyset
// (its files are plain until tillit keys encrypt-disk). The slices are the keyring's: do not
// change them.
func (k *Keyring) DiskKeys() []DiskKey { return k.cur.Load().disk }

// NewDiskKey adds a new key to the disk keyset of the keyset file cfg names and makes it the
// primary, creating the keyset when the file has none (an installation from before disk
// encryption), and returns it; with fresh false, a keyset that exists is left as it is and its
// primary returned. The file is rewritten atomically (a new file beside it, synced, renamed over
// it, the directory synced): a crash leaves the old file or the new one. Every other keyset and
// field of the file is kept byte for byte. The root key is cfg's and must open the file.
func NewDiskKey(cfg Config, fresh bool) (DiskKey, error) {
	var out DiskKey
	err := updateDiskKeyset(cfg, func(h *keyset.Handle) (*keyset.Handle, error) {
		if h != nil && !fresh {
			ks, err := diskKeys(h)
			if err != nil {
				return nil, err
			}
			out = ks[0]
			return nil, nil // unchanged
		}
		if h == nil {
			nh, err := newDiskKeyset()
			if err != nil {
				return nil, fmt.Errorf("keys: new disk keyset: %w", err)
			}
			ks, err := diskKeys(nh)
			if err != nil {
				return nil, err
			}
			out = ks[0]
			return nh, nil
		}
		m := keyset.NewManagerFromHandle(h)
		id, err := m.Add(prf.HMACSHA256PRFKeyTemplate())
		if err != nil {
			return nil, fmt.Errorf("keys: new disk key: %w", err)
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, fmt.Errorf("keys: new disk key: %w", err)
		}
		nh, err := m.Handle()
		if err != nil {
			return nil, fmt.Errorf("keys: new disk key: %w", err)
		}
		ks, err := diskKeys(nh)
		if err != nil {
			return nil, err
		}
		out = ks[0]
		return nh, nil
	})
	return out, err
}

// DropDiskKeys deletes every key of the disk keyset but keep, which must be its primary, and
// rewrites the keyset file as NewDiskKey does. After a rotation has copied the files under keep,
// the old keys open nothing of the store but copies made before (backups): a copy of the old
// keyset file still opens those.
func DropDiskKeys(cfg Config, keep uint32) error {
	return updateDiskKeyset(cfg, func(h *keyset.Handle) (*keyset.Handle, error) {
		if h == nil {
			return nil, fmt.Errorf("keys: keyset file %s has no disk keyset", cfg.KeysetFile)
		}
		if p, err := h.Primary(); err != nil || p.KeyID() != keep {
			return nil, fmt.Errorf("keys: disk key %d is not the primary of the disk keyset; nothing dropped", keep)
		}
		m := keyset.NewManagerFromHandle(h)
		dropped := 0
		for _, info := range h.KeysetInfo().GetKeyInfo() {
			if id := info.GetKeyId(); id != keep {
				if err := m.Delete(id); err != nil {
					return nil, fmt.Errorf("keys: drop disk key %d: %w", id, err)
				}
				dropped++
			}
		}
		if dropped == 0 {
			return nil, nil
		}
		return m.Handle()
	})
}

// updateDiskKeyset reads the keyset file cfg names, unwraps its disk keyset (nil when absent)
// with cfg's root key, and hands it to change; when change returns a handle, the file is
// rewritten with it as the disk keyset (replaceFile), and read back to check that it opens.
func updateDiskKeyset(cfg Config, change func(*keyset.Handle) (*keyset.Handle, error)) error {
	kek, err := rootOf(cfg)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(cfg.KeysetFile)
	if err != nil {
		return fmt.Errorf("keys: read keysets: %w", err)
	}
	// Every field and keyset but the disk keyset is kept as it is, byte for byte.
	var file map[string]json.RawMessage
	if err := json.Unmarshal(data, &file); err != nil {
		return fmt.Errorf("keys: keyset file %s: %w", cfg.KeysetFile, err)
	}
	var sets map[string][]byte
	if err := json.Unmarshal(file["keysets"], &sets); err != nil || sets == nil {
		return fmt.Errorf("keys: keyset file %s has no keysets", cfg.KeysetFile)
	}
	ad := []byte("tillit:keyset:" + diskKeyset)
	var h *keyset.Handle
	if blob, ok := sets[diskKeyset]; ok {
		if h, err = keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(blob)), kek, ad); err != nil {
			return fmt.Errorf("keys: open %q keyset: %w", diskKeyset, err)
		}
	}
	nh, err := change(h)
	if err != nil || nh == nil {
		return err
	}
	var buf bytes.Buffer
	if err := nh.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), kek, ad); err != nil {
		return fmt.Errorf("keys: wrap %q keyset: %w", diskKeyset, err)
	}
	if _, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(buf.Bytes())), kek, ad); err != nil {
		return fmt.Errorf("keys: the new %q keyset does not open: %w", diskKeyset, err)
	}
	sets[diskKeyset] = buf.Bytes()
	if file["keysets"], err = json.Marshal(sets); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	out, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return replaceFile(cfg.KeysetFile, out)
}

// rootOf opens the root key cfg names (never creating it): cfg.Root, else the key file.
func rootOf(cfg Config) (tink.AEAD, error) {
	if cfg.Root != nil {
		return cfg.Root, nil
	}
	root, _, err := loadOrCreateRootKey(cfg.RootKeyFile, false)
	if err != nil {
		return nil, err
	}
	return newRootAEAD(root)
}
