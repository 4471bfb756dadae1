package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sealed links: the tokens of links Tillit mails (unsubscribe, preferences, a consent request's
// refusal) that name what they are for without a row in the store, so that a restore from a
// backup taken before the mail was sent cannot make them meaningless.
//
// A token is base64url without padding (RFC 4648 §5) of
//
//	version (1 byte, linkVersion) | bidx key id (4 bytes, big-endian) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// under the key derived from that bidx key: its PRF (HMAC-SHA256) of linkKeyLabel, 32 bytes.
// The associated data is "tillit:link:v1:" + use + the 5 header bytes, so a token sealed for one
// use opens for no other, and neither header byte can be changed. A token opens under any
// enabled key of the bidx keyset: after a rotation the old keys stay in the set for as long as
// the suppression hashes made with them are kept, and the links sealed with them keep working.
// Only the holder of the installation's keys can make or read a token; it reveals nothing of
// what it names (the payload is encrypted).

const (
	linkVersion  byte = 1
	linkKeyLabel      = "tillit:link-key:v1"
	linkHeader        = 1 + 4
	linkNonce         = 12
	linkTag           = 16
	// LinkOverhead is how many bytes a sealed token adds to its payload before base64url.
	LinkOverhead = linkHeader + linkNonce + linkTag
	// MaxLinkPayload is the longest payload SealLink seals (bytes), so that a token stays a
	// short URL path segment: at most MaxLinkToken characters.
	MaxLinkPayload = 160
	// MaxLinkToken is the longest token SealLink makes (characters); OpenLink refuses a longer
	// string before decoding it.
	MaxLinkToken = ((LinkOverhead+MaxLinkPayload)*8 + 5) / 6
	// MinLinkToken is the shortest token SealLink makes (an empty payload), in characters.
	MinLinkToken = (LinkOverhead*8 + 5) / 6
)

// ErrLink is the error of OpenLink for any token it cannot open: of the wrong shape, sealed for
// another use, tampered with, or under a key not in the bidx keyset. It says nothing more, so a
// caller answers every such token alike.
var ErrLink = errors.New("keys: not a link token of this installation")

// SealLink seals payload (at most MaxLinkPayload bytes) for use (a short name such as
// "unsubscribe") under the primary key of the bidx keyset, with a random nonce, and returns the
// token: base64url, MinLinkToken to MaxLinkToken characters, safe in a URL path.
func (k *Keyring) SealLink(use string, payload []byte) (string, error) {
	if len(payload) > MaxLinkPayload {
		return "", fmt.Errorf("keys: link payload of %d bytes; at most %d", len(payload), MaxLinkPayload)
	}
	k.maybeRefresh()
	set := k.cur.Load().bidx
	gcm, err := linkAEAD(set.PRFs[set.PrimaryID])
	if err != nil {
		return "", err
	}
	out := make([]byte, linkHeader+linkNonce, LinkOverhead+len(payload))
	out[0] = linkVersion
	binary.BigEndian.PutUint32(out[1:linkHeader], set.PrimaryID)
	if _, err := rand.Read(out[linkHeader:]); err != nil {
		return "", fmt.Errorf("keys: link nonce: %w", err)
	}
	out = gcm.Seal(out, out[linkHeader:], payload, linkAD(use, out[:linkHeader]))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// OpenLink returns the payload of a token SealLink made for use, under any enabled key of the
// bidx keyset; ErrLink for anything else. A string of the wrong length or alphabet costs no
// cryptography; any other costs one HMAC and one AES-GCM open.
func (k *Keyring) OpenLink(use, token string) ([]byte, error) {
	if len(token) < MinLinkToken || len(token) > MaxLinkToken {
		return nil, ErrLink
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < LinkOverhead || raw[0] != linkVersion {
		return nil, ErrLink
	}
	k.maybeRefresh()
	p, ok := k.cur.Load().bidx.PRFs[binary.BigEndian.Uint32(raw[1:linkHeader])]
	if !ok {
		return nil, ErrLink
	}
	gcm, err := linkAEAD(p)
	if err != nil {
		return nil, err
	}
	nonce := raw[linkHeader : linkHeader+linkNonce]
	out, err := gcm.Open(nil, nonce, raw[linkHeader+linkNonce:], linkAD(use, raw[:linkHeader]))
	if err != nil {
		return nil, ErrLink
	}
	return out, nil
}

// prfer is what linkAEAD needs of a key of the bidx keyset (a Tink prf.PRF).
type prfer interface {
	ComputePRF(input []byte, outputLength uint32) ([]byte, error)
}

// linkAEAD returns AES-256-GCM under the link key derived from one bidx key.
func linkAEAD(p prfer) (cipher.AEAD, error) {
	if p == nil {
		return nil, errors.New("keys: link: no primary bidx key")
	}
	key, err := p.ComputePRF([]byte(linkKeyLabel), 32)
	if err != nil {
		return nil, fmt.Errorf("keys: link key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keys: link key: %w", err)
	}
	return cipher.NewGCM(block)
}

func linkAD(use string, header []byte) []byte {
	ad := make([]byte, 0, 16+len(use)+len(header))
	ad = append(ad, "tillit:link:v1:"...)
	ad = append(ad, use...)
	return append(ad, header...)
}
