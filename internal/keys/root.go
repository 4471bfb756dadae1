package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// RootKeySize is the size of the root key file in bytes (AES-256).
const RootKeySize = 32

// Root is the key-encryption key that wraps the Tink keysets in the keyset file: an AEAD with
// associated data, the shape of tink.AEAD. Encrypt returns a ciphertext that only Decrypt with
// the same root key and associated data opens; Decrypt fails on any other.
//
// Implementations: the root key file (Config.RootKeyFile, AES-256-GCM in this process) and an
// AES-256 key generated inside a PKCS#11 token that never leaves it (package keys/pkcs11,
// CKM_AES_GCM in the token). A cloud KMS (Tink's remote AEADs: tink-go-awskms, tink-go-gcpkms,
// tink-go-hcvault) would be a third implementation of this same interface; none is built yet.
// A root is used only while the keysets are opened, created or re-wrapped, never per field.
type Root interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
	// Kind names the kind of root ("file", "pkcs11"). The keyset file records it, so that a
	// start with the wrong kind of root key can say which setting is missing.
	Kind() string
}

// rootAEAD is the root key file's Root: AES-256-GCM with a random 96-bit nonce prepended to the
// ciphertext.
type rootAEAD struct{ gcm cipher.AEAD }

func (rootAEAD) Kind() string { return RootFile }

func (r rootAEAD) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return r.gcm.Seal(nil, nil, plaintext, associatedData), nil
}

func (r rootAEAD) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	pt, err := r.gcm.Open(nil, nil, ciphertext, associatedData)
	if err != nil {
		return nil, errors.New("keys: root key does not open this keyset (wrong root key or damaged file)")
	}
	return pt, nil
}

// Kinds of Root.
const (
	RootFile   = "file"
	RootPKCS11 = "pkcs11"
)

// OpenRootFile opens the root key file at path as a Root, creating it (32 random bytes, mode
// 0600) when it does not exist and create is true; created reports that. It refuses a file of
// another size and one readable by group or others.
func OpenRootFile(path string, create bool) (r Root, created bool, err error) {
	key, created, err := loadOrCreateRootKey(path, create)
	if err != nil {
		return nil, false, err
	}
	a, err := newRootAEAD(key)
	if err != nil {
		return nil, false, err
	}
	return a, created, nil
}

func newRootAEAD(key []byte) (rootAEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return rootAEAD{}, fmt.Errorf("keys: root key: %w", err)
	}
	gcm, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return rootAEAD{}, fmt.Errorf("keys: root key: %w", err)
	}
	return rootAEAD{gcm: gcm}, nil
}

// loadOrCreateRootKey reads the 32-byte root key at path, creating it with mode 0600 when it does
// not exist and create is true. It refuses a key file readable by group or others.
func loadOrCreateRootKey(path string, create bool) (key []byte, created bool, err error) {
	key, err = os.ReadFile(path)
	switch {
	case err == nil:
		if len(key) != RootKeySize {
			return nil, false, fmt.Errorf("keys: root key file %s holds %d bytes; want %d", path, len(key), RootKeySize)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, false, fmt.Errorf("keys: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("keys: root key file %s has mode %v; want 0600", path, st.Mode().Perm())
		}
		return key, false, nil
	case errors.Is(err, fs.ErrNotExist) && create:
		key = make([]byte, RootKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, false, fmt.Errorf("keys: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("keys: create root key: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("keys: write root key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("keys: write root key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, false, fmt.Errorf("keys: write root key: %w", err)
		}
		return key, true, nil
	default:
		return nil, false, fmt.Errorf("keys: read root key: %w", err)
	}
}
