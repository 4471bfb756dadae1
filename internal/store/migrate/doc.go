// Package migrate moves a whole Tillit installation from its embedded SQLite store to a
// PostgreSQL one (tillit migrate-store, issue 13), without decrypting anything: every row is
// copied as stored (ciphertext, wrapped data keys, keyed hashes, audit events and the audit
// anchor with its MAC), so the installation's keys (root.key, keysets.json, which stay files in
// the data directory) open the copy as they opened the original.
//
// Invariants:
//   - The source is read only while no other process has its files open: Run refuses at once
//     when one has (a running tillit serve), and holds both files' exclusive locks until it
//     returns, so nothing changes the source under the copy. Before that it opens the source
//     once as every command does (store.Open: a transaction a crash left half done is
//     finished) and refuses a source whose audit chain does not verify.
//   - The tables are the schemas' own (sqlite_schema of both files, information_schema of both
//     PostgreSQL schemas), never a list kept by hand: every table of the source must exist in
//     the destination and every column of it (PRAGMA table_info, matched by name), or Run
//     fails naming the first that does not. Values are converted where the declared types
//     differ (INTEGER to BIGINT, BLOB to BYTEA, TEXT to TEXT); text PostgreSQL cannot hold (a
//     NUL byte, invalid UTF-8) is refused naming the table, the row's key and the column,
//     never the value. Tables are copied parents first (their foreign keys).
//   - Two tables are bookkeeping, not data: schema_migrations is compared, not copied (source
//     and destination must be at the same migration versions, or Run tells which to upgrade),
//     and commit_marker, one row in each schema that Migrate creates, is replaced by the
//     source's, so the destination starts in step and the first write repairs nothing.
//   - The destination holds nothing but this copy: a schema with rows of any store (another
//     installation's, or one a server made there) is refused before anything is written to it.
//   - Rows are copied in batches in key order (the primary key, or the rowid of a table
//     without one), each batch in one destination transaction with its progress record
//     (table migrate_progress of the data schema: table, last key, rows), so a killed run is
//     resumed by running it again: nothing is copied twice and nothing is skipped. The source's
//     identity (the hash of its first audit event) and state (audit anchor, commit marker) are
//     recorded with the first batch (table migrate_source); a resumed run whose source changed
//     in between is refused. While copying, Run holds the store's writer lock on the
//     destination (postgres.WriterLock), so a server started on it waits.
//   - After the copy, identity columns continue after the largest value copied, and the copy
//     is verified: each table's row count and a digest of its rows are equal on both sides,
//     and the destination's audit chain verifies against its anchor under the installation's
//     key (store.Open with Options.AnchorMAC, then Store.VerifyAudit). Run returns the
//     Summary only when every check holds.
//
// Errors and progress name tables, keys and columns, never a value: rows hold personal data.
package migrate
