// Package softhsmtest gives a test a fresh SoftHSM2 token (Debian's softhsm2 package) to keep a
// root key in. The token lives under the test's temporary directory; SOFTHSM2_CONF points the
// module at it for the rest of the test (t.Setenv: such a test cannot run in parallel).
//
// A test on a machine without softhsm2 (or on a build without cgo) skips with a message, unless
// TILLIT_REQUIRE_SOFTHSM=1 (CI): then it fails.
package softhsmtest

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/keys/pkcs11"
)

// modules are the places the SoftHSM2 PKCS#11 module is looked for (Debian's first).
var modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Token is an initialized SoftHSM2 token.
type Token struct {
	Module string // the PKCS#11 module's path
	Label  string // the token's label
	PIN    string // the user PIN
	SOPIN  string // the security officer's PIN
	Dir    string // the token directory
}

// New makes a token labelled label with user PIN "user-pin-8231" in a new directory under t.TempDir()
// and sets SOFTHSM2_CONF to a configuration that holds only it.
func New(t testing.TB, label string) Token {
	t.Helper()
	module := Module(t)
	dir := t.TempDir()
	tok := Token{Module: module, Label: label, PIN: "user-pin-8231", SOPIN: "so-pin-5678", Dir: filepath.Join(dir, "tokens")}
	if err := os.Mkdir(tok.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tok.Dir+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok.Add(t, label)
	return tok
}

// Add initializes one more token labelled label (user PIN and SO PIN as tok's) beside tok's.
func (tok Token) Add(t testing.TB, label string) {
	t.Helper()
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", tok.PIN, "--so-pin", tok.SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
}

// URI is the pkcs11: URI of the key labelled object in the token, with the PIN as pin-value.
func (tok Token) URI(object string) string {
	return "pkcs11:token=" + url.PathEscape(tok.Label) + ";object=" + url.PathEscape(object) +
		"?module-path=" + tok.Module + "&pin-value=" + url.QueryEscape(tok.PIN)
}

// Module returns the SoftHSM2 module's path, skipping (or, with TILLIT_REQUIRE_SOFTHSM=1,
// failing) the test when softhsm2 is not installed or the build has no cgo.
func Module(t testing.TB) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("TILLIT_REQUIRE_SOFTHSM") == "1" {
			t.Fatalf("%s, and TILLIT_REQUIRE_SOFTHSM=1", why)
		}
		t.Skipf("%s (apt-get install softhsm2)", why)
	}
	if !pkcs11.Supported {
		missing("this build has no cgo, so no PKCS#11")
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		missing("softhsm2-util is not installed")
	}
	for _, m := range modules {
		if _, err := os.Stat(m); err == nil {
			return m
		}
	}
	missing("the SoftHSM2 module (libsofthsm2.so) is not installed")
	return ""
}
