package pkcs11_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys/pkcs11"
)

const mod = "module-path=/usr/lib/softhsm/libsofthsm2.so"

func TestParseURI(t *testing.T) {
	u, err := pkcs11.ParseURI("PKCS11:token=My%20Token;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=0a1b;slot-id=7;object=tillit-root;id=%01%02;type=secret-key;x-vendor=1?" + mod + "&pin-value=12%2634")
	if err != nil {
		t.Fatal(err)
	}
	want := pkcs11.URI{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", Token: "My Token", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "0a1b",
		SlotID: 7, HasSlotID: true, Object: "tillit-root", ID: []byte{1, 2}}
	if u.ModulePath != want.ModulePath || u.Token != want.Token || u.Manufacturer != want.Manufacturer || u.Model != want.Model ||
		u.Serial != want.Serial || u.SlotID != 7 || !u.HasSlotID || u.Object != want.Object || string(u.ID) != string(want.ID) {
		t.Errorf("ParseURI = %+v; want %+v", u, want)
	}
	const printed = "pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=0a1b;slot-id=7;object=tillit-root;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=xxxxx"
	for _, s := range []string{u.String(), fmt.Sprint(u), fmt.Sprintf("%v %+v %#v %s", u, u, u, &u)} {
		if strings.Contains(s, "12&34") || strings.Contains(s, "12%2634") || !strings.Contains(s, printed) {
			t.Errorf("printed as %s; want %s without the PIN", s, printed)
		}
	}
}

func TestParseURIReadsPINSource(t *testing.T) {
	dir := t.TempDir()
	pin := filepath.Join(dir, "pin")
	if err := os.WriteFile(pin, []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"file:" + pin, "file://" + pin, pin} {
		u, err := pkcs11.ParseURI("pkcs11:token=t;object=o?" + mod + "&pin-source=" + src)
		if err != nil {
			t.Fatalf("pin-source=%s: %v", src, err)
		}
		if s := u.String(); strings.Contains(s, "4321") || !strings.HasSuffix(s, "&pin-source="+src) {
			t.Errorf("printed as %s; want the pin-source and not the PIN", s)
		}
	}
	if err := os.Chmod(pin, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pkcs11.ParseURI("pkcs11:token=t;object=o?" + mod + "&pin-source=" + pin); err == nil || !strings.Contains(err.Error(), "mode -rw-r--r--; want 0600") {
		t.Errorf("a PIN file readable by others: %v; want a refusal naming its mode", err)
	}
}

// TestParseURIRefusals: each bad URI is refused with an error that names the attribute, and
// none shows the PIN ("s3cret").
func TestParseURIRefusals(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"pkcs12:token=t;object=o?" + mod + "&pin-value=s3cret", "starts with pkcs11:"},
		{"/etc/tillit/root.key", "starts with pkcs11:"},
		{"pkcs11:token=t?" + mod + "&pin-value=s3cret", "attribute object (the label of the root key in the token) is missing"},
		{"pkcs11:token=t;object=o?pin-value=s3cret", "attribute module-path (the PKCS#11 module"},
		{"pkcs11:token=t;object=o?" + mod, "the user PIN is missing"},
		{"pkcs11:token=t;object=o?" + mod + "&pin-value=s3cret&pin-source=/p", "give pin-value or pin-source, not both"},
		{"pkcs11:token=t;token=u;object=o?" + mod + "&pin-value=s3cret", "attribute token appears twice"},
		{"pkcs11:token=t;object=o;colour=red?" + mod + "&pin-value=s3cret", "unknown attribute colour"},
		{"pkcs11:token=t;object=o?" + mod + "&pin-value=s3cret&object=p", "attribute object belongs in the path (before ?, separated by ;)"},
		{"pkcs11:token=t;object=o;pin-value=s3cret?" + mod, "attribute pin-value belongs in the query (after ?, separated by &)"},
		{"pkcs11:token=t;object=o;library-manufacturer=x?" + mod + "&pin-value=s3cret", "attribute library-manufacturer is not supported (select the token by token, serial or slot-id)"},
		{"pkcs11:token=t;object=o?module-name=softhsm2&pin-value=s3cret", "attribute module-name is not supported (give the module's file with module-path)"},
		{"pkcs11:token=t;object=o;slot-id=one?" + mod + "&pin-value=s3cret", "attribute slot-id: want a decimal number"},
		{"pkcs11:token=t;object=o;type=private?" + mod + "&pin-value=s3cret", `attribute type is "private"; the root key is a secret-key`},
		{"pkcs11:token=%zz;object=o?" + mod + "&pin-value=s3cret", "attribute token: malformed percent-encoding"},
		{"pkcs11:token=;object=o?" + mod + "&pin-value=s3cret", "attribute token is empty"},
		{"pkcs11:token=t;object=o?" + mod + "&pin-value=s3c%zzret", "attribute pin-value: malformed percent-encoding"},
		{"pkcs11:token=t;object=o;s3cret?" + mod, "attribute 3 of the path (before ?, separated by ;) is not a name=value pair"},
		{"pkcs11:token=t;object=o?" + mod + "&s3cret", "attribute 2 of the query (after ?, separated by &) is not a name=value pair"},
		{"pkcs11:token=t;object=o?" + mod + "&pin-source=relative/pin", "attribute pin-source: want a file: URI or an absolute path"},
		{"pkcs11:token=t;object=o?" + mod + "&pin-source=file://host/pin", "attribute pin-source: want a file: URI of a local file"},
		{"pkcs11:token=t;object=o?" + mod + "&pin-source=/nonexistent/pin", "attribute pin-source: /nonexistent/pin does not exist"},
	} {
		_, err := pkcs11.ParseURI(c.uri)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseURI(%s) = %v; want an error with %q", pkcs11.Redact(c.uri), err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "s3c") {
			t.Errorf("ParseURI(%s): the error shows the PIN: %v", pkcs11.Redact(c.uri), err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"pkcs11:object=o?module-path=/m.so&pin-value=s3cret": "pkcs11:object=o?module-path=/m.so&pin-value=xxxxx",
		"pkcs11:object=o?PIN-VALUE=s3cret&module-path=/m.so": "pkcs11:object=o?PIN-VALUE=xxxxx&module-path=/m.so",
		"pkcs11:object=o?module-path=/m.so&pin-source=/p":    "pkcs11:object=o?module-path=/m.so&pin-source=/p",
		"pkcs11:object=o;pin-value=s3cret?module-path=/m.so": "pkcs11:object=o;pin-value=xxxxx?module-path=/m.so",
		"pkcs11:object=o;pin-value=s3cret":                   "pkcs11:object=o;pin-value=xxxxx",
		"pkcs11:pin-value=s3cret":                            "pkcs11:pin-value=xxxxx",
	} {
		if got := pkcs11.Redact(in); got != want {
			t.Errorf("Redact(%s) = %s; want %s", in, got, want)
		}
	}
}
