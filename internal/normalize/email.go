package normalize

import (
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/tillit/tillit/internal/apperr"
)

// Limits from RFC 5321 §4.5.3.1: a local part is at most 64 octets (§4.5.3.1.1), a path at most
// 256 octets including the angle brackets (§4.5.3.1.3), so an address at most 254 octets; a DNS
// label is at most 63 octets (RFC 1035 §2.3.4).
const (
	maxLocalOctets   = 64
	maxAddressOctets = 254
	maxLabelOctets   = 63
)

// The refusal messages. They name the field and the rule, never the value.
const (
	msgEmailEmpty        = "email: the address is empty"
	msgEmailMissingAt    = "email: the address has no @ sign"
	msgEmailEmptyLocal   = "email: the part before the @ sign is empty"
	msgEmailEmptyDomain  = "email: the domain after the @ sign is empty"
	msgEmailInvalidLocal = "email: the part before the @ sign has a character, dot or length that is not allowed"
	msgEmailInvalidHost  = "email: the domain is not a valid host name"
	msgEmailTooLong      = "email: the address is longer than 254 octets"
)

// lookup is the IDNA profile for domains: UTS #46 non-transitional processing with the
// RFC 5891 §5 lookup mapping (case, width and compatibility mappings, label validation,
// STD3 ASCII rules, hyphen and joiner checks) and the RFC 5893 Bidi rule. It is spelled out
// rather than taken from idna.Lookup, whose configuration "may change over time"; a change here
// bumps Version. It is never modified after initialization.
var lookup = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
)

// Email returns the normalized form of the e-mail address s, the value that blind indexes and
// suppression hashes are computed over (DESIGN.md §4).
//
// The steps, in order:
//  1. BOM (U+FEFF), zero-width characters (U+200B, U+200C, U+200D, U+2060) and no-break spaces
//     (U+00A0, U+202F) are removed wherever they occur; leading and trailing white space is trimmed.
//  2. Unicode NFC (UAX #15), then lower case for the whole address, local part included (RFC 5321
//     §2.4 lets the local part be case-sensitive; no real mailbox relies on it, and treating
//     Info@ and info@ as two people would break "one person is one contact").
//  3. The address is split at its @ sign. The local part may hold ASCII letters and digits,
//     the RFC 5322 §3.2.3 atext specials ! # $ % & ' * + - / = ? ^ _ ` { | } ~, dots that are not
//     leading, trailing or consecutive, and non-ASCII letters, marks and digits (RFC 6531
//     SMTPUTF8); at most 64 octets (RFC 5321 §4.5.3.1.1). Quoted local parts are not accepted.
//     A +tag sub-address is kept: user+news@ and user@ are different addresses.
//  4. The domain is converted to its IDNA A-label (RFC 5891 §5 / UTS #46 non-transitional
//     lookup processing), so "bücher.example" and "xn--bcher-kva.example" give the same
//     result. Code points that UTS #46 marks valid but IDNA2008 does not (NV8, such as
//     U+2603 in "xn--n3h") are accepted, as browsers do. It must have at least two labels, each 1 to 63 octets, without a leading or
//     trailing hyphen, and a top-level label that is not all digits (RFC 3696 §2). Address
//     literals ("[192.0.2.1]", RFC 5321 §4.1.3) are refused.
//  5. The whole result is at most 254 octets (RFC 5321 §4.5.3.1.3).
//
// The result is ASCII apart from a non-ASCII local part, and Email(Email(s)) == Email(s).
//
// Errors: an *apperr.Error of kind apperr.Invalid with Field "email" and Reason one of
// "empty", "missing_at", "empty_local_part", "empty_domain", "invalid_local_part" (a second @,
// a disallowed character, a misplaced dot, over 64 octets), "invalid_domain" and "too_long".
// The message never contains the address.
func Email(s string) (string, error) {
	s = strings.TrimSpace(stripInvisible(s))
	if s == "" {
		return "", emailError("empty", msgEmailEmpty)
	}
	s = norm.NFC.String(strings.ToLower(norm.NFC.String(s)))

	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", emailError("missing_at", msgEmailMissingAt)
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return "", emailError("empty_local_part", msgEmailEmptyLocal)
	}
	if !validLocal(local) {
		return "", emailError("invalid_local_part", msgEmailInvalidLocal)
	}
	if domain == "" {
		return "", emailError("empty_domain", msgEmailEmptyDomain)
	}
	host, ok := asciiDomain(domain)
	if !ok {
		return "", emailError("invalid_domain", msgEmailInvalidHost)
	}
	out := local + "@" + host
	if len(out) > maxAddressOctets {
		return "", emailError("too_long", msgEmailTooLong)
	}
	return out, nil
}

// emailError returns the refusal for field "email". It wraps no cause: causes such as IDNA
// errors quote the offending label, which is personal data.
func emailError(reason, msg string) error {
	return &apperr.Error{Kind: apperr.Invalid, Field: "email", Reason: reason, Message: msg}
}

// stripInvisible removes the BOM, zero-width characters and no-break spaces anywhere in s.
// Invalid UTF-8 becomes U+FFFD, which no later step accepts.
func stripInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\uFEFF', '\u200B', '\u200C', '\u200D', '\u2060', '\u00A0', '\u202F':
			return -1
		}
		return r
	}, s)
}

// validLocal reports whether the lower-cased, NFC local part l is an unquoted RFC 5322
// dot-atom (extended to non-ASCII letters, marks and digits by RFC 6531) of at most 64 octets.
// A second @ sign is refused here.
func validLocal(l string) bool {
	if len(l) > maxLocalOctets || l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return false
	}
	for _, r := range l {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r):
		case r < 0x80:
			return false // white space, controls, @ and the specials "(),:;<>[\]
		case unicode.In(r, unicode.L, unicode.M, unicode.N):
		default:
			return false // non-ASCII white space, controls, format characters, symbols, U+FFFD
		}
	}
	return true
}

// asciiDomain returns the A-label form of domain d and whether it is an acceptable host name.
func asciiDomain(d string) (string, bool) {
	if strings.HasPrefix(d, "[") {
		return "", false // address literal
	}
	a, err := lookup.ToASCII(d)
	if err != nil {
		return "", false
	}
	labels := strings.Split(a, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelOctets || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", false // all-numeric top-level label: a dotted IPv4 address, not a host name
	}
	return a, true
}
