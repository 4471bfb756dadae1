package optin

import (
	"context"
	"errors"
	"fmt"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/token"
)

// LinkKeys seals and opens the tokens of the links in our mail (a *keys.Keyring): a token names
// its contact, purpose and kind by itself, encrypted under the installation's keys, so it needs
// no row in the store and a restore from a backup older than the mail cannot make it mean
// nothing. OpenLink fails with keys.ErrLink for any token it cannot open.
type LinkKeys interface {
	SealLink(use string, payload []byte) (string, error)
	OpenLink(use, token string) ([]byte, error)
}

// linkUse is the use the unsubscribe, refusal and preferences links are sealed for.
const linkUse = "unsubscribe"

// Payload layout of a sealed link: kind code (1 byte), length of the contact id (1 byte), the
// contact id, with an upper-case code the keyed suppression hash of the contact's address
// (keys.IndexSize bytes, Link.Hash), then the purpose id. Tokens with a lower-case code (sealed
// before the hash was carried) hold no hash.
const (
	kindCodeUnsubscribe byte = 'u'
	kindCodeRefuse      byte = 'r'
	kindCodeWithHash    byte = 'a' - 'A' // subtracted from a code: the payload carries Link.Hash
)

// sealLink makes the token of l; l.Hash is sealed when it is keys.IndexSize bytes.
func sealLink(k LinkKeys, l Link) (string, error) {
	code := kindCodeUnsubscribe
	if l.Kind == LinkRefuse {
		code = kindCodeRefuse
	}
	if l.ContactID == "" || len(l.ContactID) > 255 || !consent.ValidID(l.Purpose) {
		return "", fmt.Errorf("optin: a link for a contact id of %d bytes and purpose %q cannot be sealed", len(l.ContactID), l.Purpose)
	}
	hash := len(l.Hash) == keys.IndexSize
	if hash {
		code -= kindCodeWithHash
	}
	b := make([]byte, 0, 2+len(l.ContactID)+keys.IndexSize+len(l.Purpose))
	b = append(b, code, byte(len(l.ContactID)))
	b = append(b, l.ContactID...)
	if hash {
		b = append(b, l.Hash...)
	}
	b = append(b, l.Purpose...)
	return k.SealLink(linkUse, b)
}

// decodeLink reads the payload of a sealed link; ok is false for a payload of another layout.
func decodeLink(b []byte) (l Link, ok bool) {
	if len(b) < 2 || len(b) < 2+int(b[1]) {
		return l, false
	}
	code, hash := b[0], false
	if code == kindCodeUnsubscribe-kindCodeWithHash || code == kindCodeRefuse-kindCodeWithHash {
		code, hash = code+kindCodeWithHash, true
	}
	switch code {
	case kindCodeUnsubscribe:
		l.Kind = LinkUnsubscribe
	case kindCodeRefuse:
		l.Kind = LinkRefuse
	default:
		return l, false
	}
	n := 2 + int(b[1])
	l.ContactID = string(b[2:n])
	if hash {
		if len(b) < n+keys.IndexSize {
			return Link{}, false
		}
		l.Hash = append([]byte(nil), b[n:n+keys.IndexSize]...)
		n += keys.IndexSize
	}
	l.Purpose = string(b[n:])
	return l, l.ContactID != "" && consent.ValidID(l.Purpose)
}

// linkRef is what a link secret refers to, as far as can be told without the store: a sealed
// link, opened, or an older random token (minted before links were sealed, and still in mail
// people keep), whose row the store holds under hash.
type linkRef struct {
	link Link
	hash []byte // set for a random token
}

// refOf returns what secret refers to; ok is false when it refers to nothing (the wrong shape,
// or a token these keys did not seal), decided without the store and at the cost of at most one
// AEAD open, so junk in a public URL costs no store work. Keys nil: only random tokens.
func refOf(k LinkKeys, secret string) (r linkRef, ok bool, err error) {
	if token.WellFormedLink(secret) {
		return linkRef{hash: hashUnsubscribe(secret)}, true, nil
	}
	if k == nil || len(secret) < keys.MinLinkToken || len(secret) > keys.MaxLinkToken {
		return r, false, nil
	}
	b, err := k.OpenLink(linkUse, secret)
	if errors.Is(err, keys.ErrLink) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	r.link, ok = decodeLink(b)
	return r, ok, nil
}

// in returns the link r refers to, reading a random token's row in tx; ok is false when the
// row is not there (an unknown token, or one whose contact was erased).
func (r linkRef) in(ctx context.Context, tx UnsubscribeTx) (l Link, ok bool, err error) {
	if r.hash == nil {
		return r.link, true, nil
	}
	l, err = tx.UnsubscribeToken(ctx, r.hash)
	if apperr.Is(err, apperr.NotFound) {
		return l, false, nil
	}
	return l, err == nil, err
}
