package keys

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/tink-crypto/tink-go/v2/prf"
)

// IndexSize is the length in bytes of a blind index or suppression hash (128 bits: collision
// probability below 2^-32 up to 2^48 values, the sizing rule in Tink's prf package doc).
const IndexSize = 16

// Index kinds: the identifier kind is part of the domain-separation string.
const (
	IndexEmail       = "email"
	IndexPhone       = "phone"
	IndexSuppression = "suppression-email"
	IndexClient      = "client-address" // a public form's client, for its rate limit (throttle)
)

// indexInput is the domain-separated PRF input of a blind index:
// "tillit:bidx:<kind>:v<normVersion>:<value>".
func indexInput(kind string, normVersion int, normalized string) []byte {
	in := make([]byte, 0, 32+len(normalized))
	in = append(in, "tillit:bidx:"...)
	in = append(in, kind...)
	in = append(in, ":v"...)
	in = strconv.AppendInt(in, int64(normVersion), 10)
	in = append(in, ':')
	return append(in, normalized...)
}

// BlindIndex returns the 16-byte blind index of an already normalized identifier of the given
// kind, computed with the primary key of the bidx PRF keyset (HMAC-SHA256) over a domain-separated
// input "tillit:bidx:<kind>:v<normVersion>:<value>". normVersion is normalize.Version; changing
// normalization rules changes every index, which is why it is part of the input. It is what a
// write stores; a lookup matches any of BlindIndexes.
func (k *Keyring) BlindIndex(kind string, normVersion int, normalized string) ([]byte, error) {
	k.maybeRefresh()
	out, err := k.cur.Load().bidx.ComputePrimaryPRF(indexInput(kind, normVersion, normalized), IndexSize)
	if err != nil {
		return nil, fmt.Errorf("keys: blind index: %w", err)
	}
	return out, nil
}

// BlindIndexes returns the blind index of the identifier (as BlindIndex) under every enabled key
// of the bidx keyset: the primary's first (what BlindIndex returns), then the others in the
// keyset's order (oldest first). A lookup by an identifier matches a stored index or hash equal
// to any of them, so that what was indexed under a key before a rotation (keys rotate --bidx) is
// still found after it, and so are the suppression hashes of addresses that are gone, which
// cannot be made again under a new key. One element when the keyset has one key; never empty.
func (k *Keyring) BlindIndexes(kind string, normVersion int, normalized string) ([][]byte, error) {
	k.maybeRefresh()
	out, err := k.cur.Load().underEveryBidxKey(indexInput(kind, normVersion, normalized), IndexSize)
	if err != nil {
		return nil, fmt.Errorf("keys: blind index: %w", err)
	}
	return out, nil
}

// underEveryBidxKey computes the PRF of in, size bytes, under every enabled key of the bidx
// keyset, the primary's first (bidxOrder).
func (l *loaded) underEveryBidxKey(in []byte, size int) ([][]byte, error) {
	out := make([][]byte, 0, len(l.bidxOrder))
	for _, id := range l.bidxOrder {
		v, err := l.bidx.PRFs[id].ComputePRF(in, uint32(size))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// bidxOrder is the ids of the enabled keys of the PRF set s: the primary first, then the others
// in the order of the keyset's info (Tink appends a new key last).
func bidxOrder(s *prf.Set, info KeysetInfo) []uint32 {
	order := []uint32{s.PrimaryID}
	for _, k := range info.Keys {
		if _, ok := s.PRFs[k.ID]; ok && k.ID != s.PrimaryID {
			order = append(order, k.ID)
		}
	}
	return order
}

// anchorInput is the PRF input of the audit anchor's MAC.
func anchorInput(seq int64, hash []byte) []byte {
	in := make([]byte, 0, 48+len(hash))
	in = append(in, "tillit:audit-anchor:v1:"...)
	in = strconv.AppendInt(in, seq, 10)
	in = append(in, ':')
	return append(in, hash...)
}

// AnchorMAC returns a keyed MAC (the blind-index PRF under its own label) over the audit log's
// head: sequence number and hash. Stored beside the anchor, it lets verification tell an anchor
// Tillit wrote from one rewritten by someone who could write the database files but has no key.
// Made with the primary key; an anchor verifies under any of AnchorMACs.
func (k *Keyring) AnchorMAC(seq int64, hash []byte) ([]byte, error) {
	out, err := k.cur.Load().bidx.ComputePrimaryPRF(anchorInput(seq, hash), IndexSize)
	if err != nil {
		return nil, fmt.Errorf("keys: anchor mac: %w", err)
	}
	return out, nil
}

// AnchorMACs returns the anchor's MAC (AnchorMAC) under every enabled key of the bidx keyset,
// the primary's first: an anchor written before the keyset's primary changed (keys rotate
// --bidx) carries an older key's MAC until the next write makes it under the primary, and must
// verify meanwhile.
func (k *Keyring) AnchorMACs(seq int64, hash []byte) ([][]byte, error) {
	out, err := k.cur.Load().underEveryBidxKey(anchorInput(seq, hash), IndexSize)
	if err != nil {
		return nil, fmt.Errorf("keys: anchor mac: %w", err)
	}
	return out, nil
}

// indexKeyLabel is the PRF input IndexKeyID is made of.
const indexKeyLabel = "tillit:bidx-key-id:v1"

// IndexKeyID names the blind-index key: the lower-case hex of the PRF (the primary key of the
// bidx keyset) of the fixed label "tillit:bidx-key-id:v1", IndexSize bytes. Installations with the
// same key give the same id, others another; being a PRF output on a public input it reveals
// nothing of the key nor of any address. tillit ledger export writes it so that replay can refuse
// a file whose keyed hashes were made under another key and would match nothing.
func (k *Keyring) IndexKeyID() (string, error) {
	out, err := k.cur.Load().bidx.ComputePrimaryPRF([]byte(indexKeyLabel), IndexSize)
	if err != nil {
		return "", fmt.Errorf("keys: index key id: %w", err)
	}
	return hex.EncodeToString(out), nil
}

// IndexKeyIDs returns IndexKeyID of every enabled key of the bidx keyset, the primary's first: a
// ledger file or backup made before a rotation (keys rotate --bidx) names an older key of the set,
// whose hashes still match here (BlindIndexes).
func (k *Keyring) IndexKeyIDs() ([]string, error) {
	outs, err := k.cur.Load().underEveryBidxKey([]byte(indexKeyLabel), IndexSize)
	if err != nil {
		return nil, fmt.Errorf("keys: index key id: %w", err)
	}
	ids := make([]string, len(outs))
	for i, o := range outs {
		ids[i] = hex.EncodeToString(o)
	}
	return ids, nil
}

// BackupVerifyKeys returns the public half of the backup signing key (as BackupSigningKey makes
// it) under every enabled key of the bidx keyset, the primary's first: the keys a backup of this
// installation can have been signed with (restore accepts a verify key among them).
func (k *Keyring) BackupVerifyKeys() ([]ed25519.PublicKey, error) {
	seeds, err := k.cur.Load().underEveryBidxKey([]byte(backupSigningLabel), ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("keys: backup signing key: %w", err)
	}
	out := make([]ed25519.PublicKey, len(seeds))
	for i, s := range seeds {
		out[i] = ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey)
	}
	return out, nil
}
