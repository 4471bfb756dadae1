package normalize_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/normalize"
)

// emailMessages and phoneMessages are the exact refusal messages by reason: fixed text that
// never depends on the input.
var (
	emailMessages = map[string]string{
		"empty":              "email: the address is empty",
		"missing_at":         "email: the address has no @ sign",
		"empty_local_part":   "email: the part before the @ sign is empty",
		"empty_domain":       "email: the domain after the @ sign is empty",
		"invalid_local_part": "email: the part before the @ sign has a character, dot or length that is not allowed",
		"invalid_domain":     "email: the domain is not a valid host name",
		"too_long":           "email: the address is longer than 254 octets",
	}
	phoneMessages = map[string]string{
		"empty":           "phone: the number is empty",
		"unparseable":     "phone: the value is not a telephone number",
		"invalid_number":  "phone: the number is not a valid number in its country (or has an extension)",
		"region_required": "phone: a number without a country code needs a default region (the TILLIT_DEFAULT_REGION setting); write it with + and its country code",
	}
)

type emailCase struct {
	name, in, want string
}

func validEmailCases() []emailCase {
	cases := []emailCase{
		{"plain", "info@example.com", "info@example.com"},
		{"trim spaces", "  info@example.com  ", "info@example.com"},
		{"trim tabs and newlines", "\t\r\ninfo@example.com\n", "info@example.com"},
		{"BOM leading", "\uFEFFinfo@example.com", "info@example.com"},
		{"BOM inside", "info@exa\uFEFFmple.com", "info@example.com"},
		{"ZWSP U+200B", "in\u200Bfo@example.com", "info@example.com"},
		{"ZWNJ U+200C", "in\u200Cfo@example.com", "info@example.com"},
		{"ZWJ U+200D", "info@exam\u200Dple.com", "info@example.com"},
		{"word joiner U+2060", "info\u2060@example.com", "info@example.com"},
		{"NBSP U+00A0 around", "\u00A0info@example.com\u00A0", "info@example.com"},
		{"NBSP U+00A0 inside", "in\u00A0fo@example.com", "info@example.com"},
		{"narrow NBSP U+202F", "info@\u202Fexample.com", "info@example.com"},
		{"NFC decomposed local", "mu\u0308ller@example.com", "m\u00FCller@example.com"},
		{"NFC composed local", "m\u00FCller@example.com", "m\u00FCller@example.com"},
		{"upper case local and domain", "Info@Example.COM", "info@example.com"},
		{"upper case non-ASCII local", "M\u00DCLLER@example.com", "m\u00FCller@example.com"},
		{"IDNA U-label mixed case", "Info@B\u00FCcher.Example", "info@xn--bcher-kva.example"},
		{"IDNA U-label decomposed", "info@bu\u0308cher.example", "info@xn--bcher-kva.example"},
		{"IDNA A-label", "info@xn--bcher-kva.example", "info@xn--bcher-kva.example"},
		{"IDNA A-label upper case", "info@XN--BCHER-KVA.EXAMPLE", "info@xn--bcher-kva.example"},
		{"IDNA A-label mixed case", "Info@Xn--Bcher-Kva.Example", "info@xn--bcher-kva.example"},
		{"IDNA non-transitional sharp s", "info@stra\u00DFe.de", "info@xn--strae-oqa.de"},
		{"IDNA ideographic full stop", "info@example\u3002com", "info@example.com"},
		{"IDNA UTS 46 valid symbol (IDNA2008 NV8)", "a@\u2603.example", "a@xn--n3h.example"},
		{"IDNA full-width domain", "info@\uFF45xample.com", "info@example.com"},
		{"plus tag kept", "User+News@example.com", "user+news@example.com"},
		{"dots in local part", "first.middle.last@example.com", "first.middle.last@example.com"},
		{"SMTPUTF8 local part", "Jos\u00E9@example.com", "jos\u00E9@example.com"},
		{"SMTPUTF8 CJK local part", "\u7528\u6237@example.com", "\u7528\u6237@example.com"},
		{"digits in domain", "a@123.example", "a@123.example"},
		{"hyphen inside label", "a@my-shop.example", "a@my-shop.example"},
		{"local part 64 octets", strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
		{"label 63 octets", "a@" + strings.Repeat("b", 63) + ".com", "a@" + strings.Repeat("b", 63) + ".com"},
		{"total 254 octets", longAddress(254), longAddress(254)},
	}
	for _, c := range "+'&=%/!#$*?^_`{|}~-" {
		in := "a" + string(c) + "b@example.com"
		cases = append(cases, emailCase{"special " + string(c), in, in})
	}
	return cases
}

// longAddress returns a valid ASCII address of n octets (n between 132 and 254): a 64-octet
// local part and a domain of 63-octet labels padded to length.
func longAddress(n int) string {
	local := strings.Repeat("a", 64)
	rest := n - len(local) - 1 - len(".com")
	var labels []string
	for rest > 0 {
		l := min(rest, 63)
		if rest-l == 1 { // avoid leaving a single octet, which cannot hold "." plus a label
			l--
		}
		labels = append(labels, strings.Repeat("b", l))
		rest -= l + 1
	}
	return local + "@" + strings.Join(labels, ".") + ".com"
}

// uLabelAddress is 252 octets as typed but over 254 once its domain is in A-labels.
var uLabelAddress = strings.Repeat("a", 64) + "@" + strings.Repeat("b\u00FCcher.", 23) + "com"

func TestEmail(t *testing.T) {
	for _, tc := range validEmailCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalize.Email(tc.in)
			if err != nil {
				t.Fatalf("Email(%q) error: %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Email(%q) = %q, want %q", tc.in, got, tc.want)
			}
			again, err := normalize.Email(got)
			if err != nil || again != got {
				t.Fatalf("not idempotent: Email(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestEmailTestHelpers(t *testing.T) {
	if n := len(longAddress(254)); n != 254 {
		t.Fatalf("longAddress(254) has %d octets", n)
	}
	if n := len(longAddress(255)); n != 255 {
		t.Fatalf("longAddress(255) has %d octets", n)
	}
	if n := len(uLabelAddress); n > 254 {
		t.Fatalf("uLabelAddress has %d octets as typed", n)
	}
}

func TestEmailEquivalents(t *testing.T) {
	groups := [][]string{
		{"Info@B\u00FCcher.Example", "info@xn--bcher-kva.example", "INFO@XN--BCHER-KVA.EXAMPLE", "info@bu\u0308cher.example"},
		{"m\u00FCller@example.com", "mu\u0308ller@example.com", "M\u00DCLLER@EXAMPLE.COM", " \uFEFFm\u00FCller@example.com\u200B "},
	}
	for _, g := range groups {
		first, err := normalize.Email(g[0])
		if err != nil {
			t.Fatalf("Email(%q): %v", g[0], err)
		}
		for _, in := range g[1:] {
			got, err := normalize.Email(in)
			if err != nil || got != first {
				t.Errorf("Email(%q) = %q, %v; want %q like Email(%q)", in, got, err, first, g[0])
			}
		}
	}
}

func TestEmailRefusals(t *testing.T) {
	cases := []struct{ name, in, reason string }{
		{"empty", "", "empty"},
		{"only white space", " \t\n ", "empty"},
		{"only invisible characters", "\uFEFF\u200B\u00A0 \u2060", "empty"},
		{"no at", "info.example.com", "missing_at"},
		{"empty local part", "@example.com", "empty_local_part"},
		{"empty domain", "info@", "empty_domain"},
		{"empty domain after trim", "info@  ", "empty_domain"},
		{"second at", "a@b@example.com", "invalid_local_part"},
		{"space in local part", "a b@example.com", "invalid_local_part"},
		{"tab in local part", "a\tb@example.com", "invalid_local_part"},
		{"control in local part", "a\x00b@example.com", "invalid_local_part"},
		{"DEL in local part", "a\x7Fb@example.com", "invalid_local_part"},
		{"quoted local part", "\"a b\"@example.com", "invalid_local_part"},
		{"special (", "a(b@example.com", "invalid_local_part"},
		{"special )", "a)b@example.com", "invalid_local_part"},
		{"special ,", "a,b@example.com", "invalid_local_part"},
		{"special :", "a:b@example.com", "invalid_local_part"},
		{"special ;", "a;b@example.com", "invalid_local_part"},
		{"special <", "a<b@example.com", "invalid_local_part"},
		{"special >", "a>b@example.com", "invalid_local_part"},
		{"special [", "a[b@example.com", "invalid_local_part"},
		{"special ]", "a]b@example.com", "invalid_local_part"},
		{"special backslash", "a\\b@example.com", "invalid_local_part"},
		{"leading dot", ".a@example.com", "invalid_local_part"},
		{"trailing dot", "a.@example.com", "invalid_local_part"},
		{"consecutive dots", "a..b@example.com", "invalid_local_part"},
		{"right-to-left override", "a\u202Eb@example.com", "invalid_local_part"},
		{"ideographic space", "a\u3000b@example.com", "invalid_local_part"},
		{"symbol", "a\u2603b@example.com", "invalid_local_part"},
		{"invalid UTF-8", "a\xffb@example.com", "invalid_local_part"},
		{"local part 65 octets", strings.Repeat("a", 65) + "@example.com", "invalid_local_part"},
		{"local part 66 octets non-ASCII", strings.Repeat("\u00E4", 33) + "@example.com", "invalid_local_part"},
		{"no dot in domain", "info@localhost", "invalid_domain"},
		{"leading hyphen", "info@-example.com", "invalid_domain"},
		{"trailing hyphen", "info@example-.com", "invalid_domain"},
		{"leading dot in domain", "info@.example.com", "invalid_domain"},
		{"trailing dot in domain", "info@example.com.", "invalid_domain"},
		{"empty label", "info@example..com", "invalid_domain"},
		{"space in domain", "info@exa mple.com", "invalid_domain"},
		{"underscore in domain", "info@exa_mple.com", "invalid_domain"},
		{"label 64 octets", "info@" + strings.Repeat("b", 64) + ".com", "invalid_domain"},
		{"bad punycode", "info@xn--a.example", "invalid_domain"},
		{"IPv4 literal", "info@[192.0.2.1]", "invalid_domain"},
		{"IPv6 literal", "info@[IPv6:2001:db8::1]", "invalid_domain"},
		{"dotted IPv4", "info@192.0.2.1", "invalid_domain"},
		{"private-use code point in domain", "info@exa\uE000mple.com", "invalid_domain"},
		{"STD3 disallowed ASCII in domain", "info@exa!mple.com", "invalid_domain"},
		{"invalid UTF-8 in domain", "info@exa\xffmple.com", "invalid_domain"},
		{"255 octets", longAddress(255), "too_long"},
		{"A-label conversion pushes over 254", uLabelAddress, "too_long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalize.Email(tc.in)
			if err == nil {
				t.Fatalf("Email(%q) = %q, want refusal %q", tc.in, got, tc.reason)
			}
			checkRefusal(t, err, "email", tc.reason, emailMessages, tc.in)
		})
	}
}

func TestPhone(t *testing.T) {
	cases := []struct{ name, in, region, want string }{
		{"German national with region", "030 1234567", "DE", "+49301234567"},
		{"German national, region lower case", "(030) 123 45 67", "de", "+49301234567"},
		{"international with plus", "+49 30 1234567", "", "+49301234567"},
		{"international with plus and other region", "+49 30 1234567", "US", "+49301234567"},
		{"international with 00", "0049 30 1234567", "", "+49301234567"},
		{"international with 00 and other region", "0049 30 1234567", "US", "+49301234567"},
		{"US international prefix 011", "011 49 30 1234567", "US", "+49301234567"},
		{"US national", "(202) 555-0143", "US", "+12025550143"},
		{"E.164 unchanged", "+12025550143", "", "+12025550143"},
		{"invisible characters and trim", " \uFEFF+49\u00A030\u200B1234567 ", "", "+49301234567"},
		{"full-width plus", "\uFF0B49 30 1234567", "", "+49301234567"},
		{"tel URI", "tel:+49-30-1234567", "", "+49301234567"},
		{"keypad letters", "+1 202 555 0ADG", "", "+12025550234"},
		{"15 digits", "+49 201 0222 000000", "", "+492010222000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalize.Phone(tc.in, tc.region)
			if err != nil {
				t.Fatalf("Phone(%q, %q) error: %v", tc.in, tc.region, err)
			}
			if got != tc.want {
				t.Fatalf("Phone(%q, %q) = %q, want %q", tc.in, tc.region, got, tc.want)
			}
			again, err := normalize.Phone(got, "")
			if err != nil || again != got {
				t.Fatalf("not idempotent: Phone(%q, \"\") = %q, %v", got, again, err)
			}
		})
	}
}

func TestPhoneRefusals(t *testing.T) {
	cases := []struct{ name, in, region, reason string }{
		{"empty", "", "DE", "empty"},
		{"only white space", "  \t", "DE", "empty"},
		{"only invisible characters", "\uFEFF\u00A0", "", "empty"},
		{"national without region", "030 1234567", "", "region_required"},
		{"national with unknown region", "030 1234567", "XX", "region_required"},
		{"letters", "call me", "DE", "unparseable"},
		{"letters without region", "call me", "", "unparseable"},
		{"unknown country code", "+999 1234567", "", "unparseable"},
		{"one digit", "+49 1", "", "unparseable"},
		{"too short for Germany", "+49 30 12", "", "invalid_number"},
		{"US number with bad area code", "+1 123 555 0143", "", "invalid_number"},
		{"extension", "+49 30 1234567 ext. 89", "", "invalid_number"},
		{"valid for libphonenumber but 16 digits (found by FuzzPhone)", "+492010AAA0000000", "", "invalid_number"},
		{"16 digits", "+49 201 0222 0000000", "", "invalid_number"},
		{"too long input", "+49 " + strings.Repeat("1", 300), "", "unparseable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalize.Phone(tc.in, tc.region)
			if err == nil {
				t.Fatalf("Phone(%q, %q) = %q, want refusal %q", tc.in, tc.region, got, tc.reason)
			}
			checkRefusal(t, err, "phone", tc.reason, phoneMessages, tc.in)
		})
	}
}

// checkRefusal asserts that err is an Invalid *apperr.Error about field with the given reason,
// the fixed message for that reason, no wrapped cause, and no trace of the input.
func checkRefusal(t *testing.T, err error, field, reason string, messages map[string]string, in string) {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not *apperr.Error", err)
	}
	if e.Kind != apperr.Invalid || e.Field != field || e.Reason != reason {
		t.Fatalf("got Kind %v Field %q Reason %q, want invalid %q %q", e.Kind, e.Field, e.Reason, field, reason)
	}
	if e.Message != messages[reason] || err.Error() != messages[reason] || e.Err != nil {
		t.Fatalf("message %q (cause %v), want exactly %q", err.Error(), e.Err, messages[reason])
	}
	if len(in) > 3 && strings.Contains(err.Error(), in) {
		t.Fatalf("message %q contains the input", err.Error())
	}
}

func FuzzEmail(f *testing.F) {
	for _, tc := range validEmailCases() {
		f.Add(tc.in)
	}
	for _, s := range []string{"", "@", "a@b", "a@b@c.d", "\"a\"@b.c", "a@[1.2.3.4]", "a@xn--.com", "A@\u0130.com", "\u212A@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := normalize.Email(in)
		if err != nil {
			e := apperr.As(err)
			if e == nil || e.Kind != apperr.Invalid || e.Field != "email" {
				t.Fatalf("Email(%q): unexpected error %#v", in, err)
			}
			msg, ok := emailMessages[e.Reason]
			if !ok || err.Error() != msg {
				t.Fatalf("Email(%q): reason %q message %q is not the fixed one", in, e.Reason, err.Error())
			}
			// The fixed text itself may contain a short input such as "email"; that is no leak.
			if len(in) > 3 && strings.Contains(err.Error(), in) && !strings.Contains(msg, in) {
				t.Fatalf("Email(%q): message %q contains the input", in, err.Error())
			}
			return
		}
		if out == "" || len(out) > 254 {
			t.Fatalf("Email(%q) = %q: empty or too long", in, out)
		}
		again, err := normalize.Email(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: Email(%q) = %q; Email(%q) = %q, %v", in, out, out, again, err)
		}
	})
}

func FuzzPhone(f *testing.F) {
	for _, s := range []string{"030 1234567", "+49 30 1234567", "0049 30 1234567", "(202) 555-0143", "+12025550143", "tel:+1-202-555-0143", "+49 30 1234567 ext. 89", ""} {
		f.Add(s, "DE")
		f.Add(s, "US")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, in, region string) {
		out, err := normalize.Phone(in, region)
		if err != nil {
			e := apperr.As(err)
			if e == nil || e.Kind != apperr.Invalid || e.Field != "phone" {
				t.Fatalf("Phone(%q, %q): unexpected error %#v", in, region, err)
			}
			if msg, ok := phoneMessages[e.Reason]; !ok || err.Error() != msg {
				t.Fatalf("Phone(%q, %q): reason %q message %q is not the fixed one", in, region, e.Reason, err.Error())
			}
			return
		}
		if !strings.HasPrefix(out, "+") || strings.Trim(out[1:], "0123456789") != "" || len(out) > 16 {
			t.Fatalf("Phone(%q, %q) = %q: not E.164", in, region, out)
		}
		again, err := normalize.Phone(out, "")
		if err != nil || again != out {
			t.Fatalf("not idempotent: Phone(%q, %q) = %q; Phone(%q, \"\") = %q, %v", in, region, out, out, again, err)
		}
		if again, err := normalize.Phone(out, region); err != nil || again != out {
			t.Fatalf("not idempotent in its region: Phone(%q, %q) = %q; Phone(%q, %q) = %q, %v", in, region, out, out, region, again, err)
		}
	})
}
