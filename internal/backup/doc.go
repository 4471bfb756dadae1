// Package backup is the format of Tillit's backup files (tillit backup, tillit restore): a
// container of encrypted parts with a signed manifest. It reads and writes the format; what goes
// in the parts (a snapshot of the store, the ledger, the keys) is its callers'.
//
// A backup file is a POSIX tar archive (USTAR; PAX headers only for a part above 8 GiB) of these
// regular files, in this order and no others:
//
//	manifest.json  the Manifest, JSON, in plain: format and version, creation time, the
//	               installation (its blind-index key id), the store's schema version and the
//	               point of its audit log the snapshot ends at, the ledger's, the key part's
//	               expiry, and each part's name, what it holds, size and SHA-256
//	manifest.sig   64 bytes: Ed25519 (RFC 8032) over "tillit-backup manifest v1\n" followed by
//	               manifest.json, under the installation's backup signing key
//	data.age       the data file (tillit.db) as SQLite wrote it, encrypted with age
//	               (filippo.io/age, C2SP age v1) to the data recipients
//	ledger.age     the ledger (tillit ledger export, JSON lines), encrypted to the data recipients
//	keys.age       only with tillit backup --with-keys: a tar of keysets.json and keys.db (the
//	               key store), encrypted to the key recipients, which may be others
//
// Every header has mode 0600, owner 0, the manifest's creation time (whole seconds) and nothing
// else, so a reader can tell exactly which bytes a writer writes.
//
// Invariants:
//   - Open refuses a file before anything in it is decrypted or used unless every byte of it is
//     accounted for: the signature verifies under the verify key the caller gives (never one read
//     from the file), the manifest is of this format, each part's bytes hash to the manifest's
//     SHA-256, and every tar header, padding and end-of-archive byte is exactly what Writer writes.
//     A byte flipped anywhere, a file cut short or extended, a part swapped for another backup's
//     or left out is refused, naming what failed.
//   - A part is read again for its decryption; the reader checks its hash once more at its end and
//     fails there when the file changed since Open.
//   - No plaintext of a part reaches a file: parts are encrypted as they are written into the
//     scratch directory, beside the backup file.
//   - age is authenticated encryption (ChaCha20-Poly1305 in 64 KiB chunks, a header MAC): the
//     signature says who made the file, age who may read each part.
package backup
