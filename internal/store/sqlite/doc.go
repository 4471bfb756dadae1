// Package sqlite runs Tillit's store (the SQL of internal/store/sqlstore) on an embedded SQLite
// database (github.com/ncruces/go-sqlite3, pure Go): the files, their connections, the write
// lock, the commit generation and the split-commit invariants between the two files.
//
// Files in the data directory: tillit.db (data), keys.db (the key store, attached to every
// connection as schema "keystore"), and their -wal and -shm files.
//
// Disk encryption (disk.go): each file, with its log and journal, is encrypted by the Adiantum
// VFS under a disk key (Options.Keys, the keyset "disk"), or plain (installations from before,
// until Reseal converts them). The file tells which: its first block opens under its key, or it
// starts with SQLite's header. Keys reach SQLite only as statements on the connection or, for
// the attached key store, in its ATTACH URI, never in a logged string: errors that quote the
// URI have the key cut out. Reseal copies both files under another key and swaps them in; a
// crash during the swap is settled (finished or undone) by the next open of any kind, so the
// directory always holds one whole store, the old files or the new ones.
//
// Backups (snapshot.go): TakeSnapshot copies both files of a store in use at one commit (a read
// transaction over both, begun while both write locks are held for an instant, copied by the
// online backup as Reseal copies) into scratch files under a random key, read back as plain
// SQLite files; Restore writes such files under the disk key where there is no store, checked
// and put in place as Reseal's copies are (settle finishes a swap a crash interrupted).
//
// Invariants of each file, on its own, after any crash:
//   - tillit.db: every committed transaction is whole (WAL). Each row that names a data key
//     (a contact, a request not forgotten, a processor) is the key store's to match; audit
//     events chain by SHA-256 from the genesis hash; commit_marker counts the transactions that
//     wrote the key store.
//   - keys.db: every committed transaction is whole. contact_keys holds the wrapped data keys of
//     contacts, requests and processors; audit_anchor the head of the audit chain with its keyed
//     MAC; commit_marker the same counter.
//
// Between the files: SQLite commits one transaction over attached WAL files file by file,
// tillit.db first, each log synced at commit (synchronous=FULL). So after a killed process or a
// power cut the key store is either in step with the data file (equal markers) or one
// transaction behind (the data file's marker ahead); never ahead. Every write transaction, and
// every Open through Reconcile, first repairs a store found behind: the anchor moves over the
// events that chain from it, keys whose owner row is gone are deleted (an erasure or a forgotten
// request is finished, never undone), and contacts, requests and processors whose key never
// committed are deleted (their creation was never acknowledged). A key store ahead of the data
// file can only come from files restored from different moments; it is left for VerifyAudit to
// report ("truncated").
//
// Also:
//   - WAL mode, foreign_keys on, busy_timeout set, secure_delete on (deleted rows are zeroed), in
//     both files.
//   - One writer connection; every read-write transaction is BEGIN IMMEDIATE (a write lock on
//     both files) under the DB's write lock, so the audit chain's head, read inside the
//     transaction, cannot move under it, even with a second process (a CLI command) writing to
//     the same files; a second process that dies mid-commit is repaired by the next writer.
//   - Driver errors are translated by SQLite error code, never by message text.
package sqlite
