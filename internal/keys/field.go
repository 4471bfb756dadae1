package keys

import (
	"errors"
	"strconv"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// DataKey is one contact's unwrapped data key. It encrypts that contact's personal fields.
type DataKey struct {
	aead    tink.AEAD
	version int
}

// Version returns the key version the key was created or unwrapped for.
func (d *DataKey) Version() int { return d.version }

// ErrDecrypt is returned when a field ciphertext does not open: it was sealed under another key,
// for another table, column or row, or it was altered.
var ErrDecrypt = errors.New("keys: field does not decrypt")

// Seal encrypts plaintext for the field table.column of row rowID with AES-256-GCM (Tink),
// binding table, column, row id and key version as associated data. An empty plaintext yields nil
// (an absent field stores NULL).
func (d *DataKey) Seal(table, column, rowID string, plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, nil
	}
	return d.aead.Encrypt(plaintext, fieldAD(table, column, rowID, d.version))
}

// Open decrypts a ciphertext made by Seal for the same table, column, row id and key version.
// A nil ciphertext yields nil. Any mismatch returns ErrDecrypt.
func (d *DataKey) Open(table, column, rowID string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 {
		return nil, nil
	}
	pt, err := d.aead.Decrypt(ciphertext, fieldAD(table, column, rowID, d.version))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func fieldAD(table, column, rowID string, version int) []byte {
	// Length-prefixed so no two distinct tuples share an encoding.
	b := make([]byte, 0, 64)
	for _, s := range []string{"tillit:field:v1", table, column, rowID, strconv.Itoa(version)} {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	return b
}
