package pkcs11_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys/pkcs11"
)

// FuzzParseURI: ParseURI never panics, and neither its error nor the parsed URI's String shows
// a PIN given as pin-value, wherever the attribute stands (a marker that cannot arise from the
// rest of the input, in an attribute of its own at the end).
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"token=t;object=o?module-path=/m.so&",
		"token=My%20Token;object=o;id=%01?module-path=/m.so&",
		"object=o;slot-id=3?module-path=/m.so&",
		"object=o;",
		"object=o?",
		"?&;=",
		"",
	} {
		f.Add(s)
	}
	const pin = "Q7pinQ7"
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "Q7") || (s != "" && !strings.ContainsAny(s[len(s)-1:], ";?&")) {
			return
		}
		raw := "pkcs11:" + s + "pin-value=" + pin
		if strings.Contains(pkcs11.Redact(raw), "Q7") {
			t.Fatalf("Redact(%q) shows the PIN", s)
		}
		u, err := pkcs11.ParseURI(raw)
		if err != nil {
			if strings.Contains(err.Error(), "Q7") {
				t.Fatalf("ParseURI(%q): the error shows the PIN: %v", pkcs11.Redact(raw), err)
			}
			return
		}
		if strings.Contains(u.String(), "Q7") || strings.Contains(fmt.Sprintf("%v %+v %#v", u, u, u), "Q7") {
			t.Fatalf("ParseURI(%q).String() = %q shows the PIN", pkcs11.Redact(raw), u.String())
		}
	})
}
