//go:build cgo

package pkcs11_test

import (
	"testing"

	"github.com/tillit/tillit/internal/keys/pkcs11/softhsmtest"
)

// TestTwoKeysOnOneModule: two Keys open at once on one module (a command's root key, and the
// one a keyring reload opens and closes) are independent: closing either, in either order,
// leaves the other able to encrypt and decrypt. PKCS#11 keeps the initialization (C_Finalize)
// and the login (C_Logout) per application, not per session, so a Close that finalized the
// module or logged out ended the other Key too (CKR_OBJECT_HANDLE_INVALID, trial 14).
func TestTwoKeysOnOneModule(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	for _, closeFirst := range []string{"later", "earlier"} {
		t.Run("close the "+closeFirst, func(t *testing.T) {
			earlier, _ := open(t, tok.URI("tillit-root"), true)
			later, _ := open(t, tok.URI("tillit-root"), false)
			gone, kept := later, earlier
			if closeFirst == "earlier" {
				gone, kept = earlier, later
			}
			ct, err := kept.Encrypt([]byte("keyset"), []byte("ad"))
			if err != nil {
				t.Fatal(err)
			}
			if err := gone.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if pt, err := kept.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "keyset" {
				t.Errorf("Decrypt after the %s Key was closed = %q, %v; want keyset", closeFirst, pt, err)
			}
			if _, err := kept.Encrypt([]byte("keyset"), []byte("ad")); err != nil {
				t.Errorf("Encrypt after the %s Key was closed: %v", closeFirst, err)
			}
			// A Key opened after both, once the kept one is closed too, works from scratch.
			if err := kept.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			again, _ := open(t, tok.URI("tillit-root"), false)
			if pt, err := again.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "keyset" {
				t.Errorf("Decrypt with a Key opened after both closed = %q, %v; want keyset", pt, err)
			}
		})
	}
}
