// Package sqlite implements Tillit's stores on an embedded SQLite database
// (github.com/ncruces/go-sqlite3, pure Go).
//
// Files in the data directory: tillit.db (data), keys.db (the key store, attached to every
// connection as schema "keystore"), and their -wal and -shm files.
//
// Invariants:
//   - WAL mode, foreign_keys on, busy_timeout set, secure_delete on (deleted rows are zeroed), in
//     both files.
//   - One writer connection; every read-write transaction is BEGIN IMMEDIATE under the DB's write
//     lock, so the audit chain's head, read inside the transaction, cannot move under it, even
//     with a second process (a CLI command) writing to the same files.
//   - Stores persist fully decided values: no time.Now, no id generation, no permission checks here.
//   - Driver errors are translated by SQLite error code, never by message text.
package sqlite
