package keys

import (
	"encoding/hex"
	"fmt"
	"strconv"
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

// BlindIndex returns the 16-byte blind index of an already normalized identifier of the given
// kind, computed with the primary key of the bidx PRF keyset (HMAC-SHA256) over a domain-separated
// input "tillit:bidx:<kind>:v<normVersion>:<value>". normVersion is normalize.Version; changing
// normalization rules changes every index, which is why it is part of the input.
func (k *Keyring) BlindIndex(kind string, normVersion int, normalized string) ([]byte, error) {
	in := make([]byte, 0, 32+len(normalized))
	in = append(in, "tillit:bidx:"...)
	in = append(in, kind...)
	in = append(in, ":v"...)
	in = strconv.AppendInt(in, int64(normVersion), 10)
	in = append(in, ':')
	in = append(in, normalized...)
	k.maybeRefresh()
	out, err := k.cur.Load().bidx.ComputePrimaryPRF(in, IndexSize)
	if err != nil {
		return nil, fmt.Errorf("keys: blind index: %w", err)
	}
	return out, nil
}

// AnchorMAC returns a keyed MAC (the blind-index PRF under its own label) over the audit log's
// head: sequence number and hash. Stored beside the anchor, it lets verification tell an anchor
// Tillit wrote from one rewritten by someone who could write the database files but has no key.
func (k *Keyring) AnchorMAC(seq int64, hash []byte) ([]byte, error) {
	in := make([]byte, 0, 48+len(hash))
	in = append(in, "tillit:audit-anchor:v1:"...)
	in = strconv.AppendInt(in, seq, 10)
	in = append(in, ':')
	in = append(in, hash...)
	out, err := k.cur.Load().bidx.ComputePrimaryPRF(in, IndexSize)
	if err != nil {
		return nil, fmt.Errorf("keys: anchor mac: %w", err)
	}
	return out, nil
}

// IndexKeyID names the blind-index key: the lower-case hex of the PRF (the primary key of the
// bidx keyset) of the fixed label "tillit:bidx-key-id:v1", IndexSize bytes. Installations with the
// same key give the same id, others another; being a PRF output on a public input it reveals
// nothing of the key nor of any address. tillit ledger export writes it so that replay can refuse
// a file whose keyed hashes were made under another key and would match nothing.
func (k *Keyring) IndexKeyID() (string, error) {
	out, err := k.cur.Load().bidx.ComputePrimaryPRF([]byte("tillit:bidx-key-id:v1"), IndexSize)
	if err != nil {
		return "", fmt.Errorf("keys: index key id: %w", err)
	}
	return hex.EncodeToString(out), nil
}
