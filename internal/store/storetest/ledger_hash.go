package storetest

import (
	"bytes"
	"testing"
)

// testLedgerAddressHashes: LedgerAddressHashes gives the suppression hash of each listed contact
// that has one; a contact without an address and an unknown id are absent.
func testLedgerAddressHashes(t *testing.T, s *suite) {
	h1, h2 := []byte("lah-hash-1\x00\xff"), []byte("lah-hash-2")
	s.update(t, func(tx Tx) error {
		a, b := minimalRecord("lah-1", "contact", []byte("lah-index-1"), nil), minimalRecord("lah-2", "contact", []byte("lah-index-2"), nil)
		a.SuppressionHash, b.SuppressionHash = h1, h2
		return insertContacts(s.ctx, tx, a, b, minimalRecord("lah-3", "lead", nil, nil))
	})
	s.update(t, func(tx Tx) error {
		hs, err := tx.LedgerAddressHashes(s.ctx, []string{"lah-1", "lah-2", "lah-3", "lah-none"})
		if err != nil {
			return err
		}
		if len(hs) != 2 || !bytes.Equal(hs["lah-1"], h1) || !bytes.Equal(hs["lah-2"], h2) {
			t.Errorf("LedgerAddressHashes = %x; want lah-1 and lah-2 with their hashes", hs)
		}
		return nil
	})
}
