package token

import "strings"

// SecretBytes is how many random bytes every secret Tillit hands out carries: API token secrets
// and the secrets of e-mailed links (opt-in confirmation, unsubscribe and preferences, request
// verification and download).
const SecretBytes = 32

// linkSecretLen is the length of SecretBytes in unpadded base64url (RFC 4648 §5).
const linkSecretLen = (SecretBytes*8 + 5) / 6

// WellFormed reports whether secret has the shape of an API token secret Create hands out:
// Prefix, then 32 bytes in unpadded base64url (47 characters in all). Authenticate refuses
// anything else without a store lookup.
func WellFormed(secret string) bool {
	s, ok := strings.CutPrefix(secret, Prefix)
	return ok && WellFormedLink(s)
}

// WellFormedLink reports whether s has the shape of a link secret: 32 bytes in unpadded
// base64url (RFC 4648 §5), 43 characters, canonical (the unused low bits of the last character
// are zero, so one secret has one spelling). The link services treat any other string as an
// unknown link without opening a transaction, so junk in a public URL costs no store work.
func WellFormedLink(s string) bool {
	if len(s) != linkSecretLen {
		return false
	}
	for i := range len(s) {
		if base64URLValue(s[i]) < 0 {
			return false
		}
	}
	unused := uint(linkSecretLen*6 - SecretBytes*8) // bits of the last character past the data
	return base64URLValue(s[len(s)-1])&(1<<unused-1) == 0
}

// base64URLValue returns the 6-bit value of a base64url character, -1 for any other byte.
func base64URLValue(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}
