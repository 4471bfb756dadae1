//go:build !cgo

package pkcs11

import (
	"errors"

	"github.com/tillit/tillit/internal/keys"
)

// Supported reports whether this build can load a PKCS#11 module: not without cgo (a static
// build, CGO_ENABLED=0).
const Supported = false

// Key stands for a key in a PKCS#11 token; a build without cgo cannot open one.
type Key struct{}

var _ keys.Root = (*Key)(nil)

// Open fails: a build without cgo cannot load a PKCS#11 module.
func Open(URI, bool) (*Key, bool, error) {
	return nil, false, errors.New("pkcs11: this tillit was built without cgo (CGO_ENABLED=0, a static binary) and cannot load a PKCS#11 module; use a build with cgo, or a root key file")
}

// Kind is keys.RootPKCS11.
func (*Key) Kind() string { return keys.RootPKCS11 }

// Encrypt fails (no Key exists in this build).
func (*Key) Encrypt([]byte, []byte) ([]byte, error) {
	return nil, errors.New("pkcs11: not in this build")
}

// Decrypt fails (no Key exists in this build).
func (*Key) Decrypt([]byte, []byte) ([]byte, error) {
	return nil, errors.New("pkcs11: not in this build")
}

// Close does nothing.
func (*Key) Close() error { return nil }
