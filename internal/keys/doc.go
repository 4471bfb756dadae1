// Package keys holds Tillit's key hierarchy and every cryptographic operation on personal data.
//
// Hierarchy (DESIGN §4, research/crypto-design.md):
//
//	root key (a Root): a file of 32 random bytes (mode 0600, outside the database), or an
//	AES-256 key inside a PKCS#11 token that never leaves it (package keys/pkcs11)
//	  └─ wraps the Tink keysets in keysets.json (which records the kind of root):
//	       wrap  AEAD (AES-256-GCM)   wraps every per-contact data key
//	       bidx  PRF  (HMAC-SHA256)   blind indexes and suppression hashes; under labels of
//	                                  their own the audit anchor's MAC, the seed of the
//	                                  backup signing key (Ed25519, backup.go) and the keys of
//	                                  sealed link tokens (AES-256-GCM, link.go)
//	       disk  PRF  (HMAC-SHA256)   one Adiantum key per key: the SQLite files (disk.go)
//	  └─ per-contact data key (32 random bytes) wrapped by wrap, stored in the key store
//	       └─ every personal field, AEAD-encrypted with associated data binding
//	          table, column, row id and key version
//
// Invariants:
//   - The root key is used only to open, create or re-wrap the keysets, never per field, and a
//     root key file is made only together with new keysets, never for keysets that exist.
//   - No SQL and no HTTP here: callers hand wrapped keys in and out.
//   - A field ciphertext only decrypts under the same table, column, row id and key version it was
//     sealed for; moving ciphertext between rows or columns fails to decrypt.
//   - Blind indexes are one-way (PRF), carry a domain-separation string that names the identifier
//     kind and the normalization version, and never appear in logs or audit events.
//   - The disk keyset is optional (keyset files from before it lack it); a new installation gets
//     it on its first start, so its files are encrypted from the first write.
//   - Keysets rotate while serving (Rotation, RenewRootFile): a Keyring reads keysets.json again
//     within RefreshInterval of a change (and at once after an unwrap fails), and a use sees the
//     keysets before or after a reload, never a mix. A key becomes primary only once every
//     serving process has loaded it, and is deleted only once no data key of the store is under
//     it and every serving process has stopped making anything with it (their records: Watch).
//     The data keys themselves never change in a rotation of the wrap keyset, so no field is
//     re-encrypted.
//   - The bidx keyset rotates too (Rotation.Bidx), but its old keys are never disabled nor
//     deleted: they made hashes that cannot be made again (the suppression hashes of erased and
//     unsubscribed people's addresses, the erasure ledger's, contacts' former addresses'). So a
//     write uses the primary (BlindIndex, AnchorMAC) and every lookup matches under every enabled
//     key, the primary's first (BlindIndexes, AnchorMACs, IndexKeyIDs, BackupVerifyKeys): one
//     rule, applied by the callers through the store's any-of lookups, and by every comparison
//     of two stored indexes that may be under different keys until re-indexed (a request's
//     address and its contact's: the candidates under every key, not one stored value). The
//     rotation re-indexes the tables in order (ReindexStep: the contacts, then the requests),
//     its cursor naming the table. The backup signing key is derived from the oldest enabled
//     key, so it stays the same across rotations.
//   - Erasure is crypto-shredding: once a contact's wrapped data key is deleted (and Forget is
//     called), nothing in this process or in the database can decrypt that contact's fields.
package keys
