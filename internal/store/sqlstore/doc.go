// Package sqlstore is the SQL of Tillit's stores, written once: every method of store.Tx over
// database/sql, run by each SQL backend (internal/store/sqlite, internal/store/postgres) through
// a Dialect that rewrites the statements into the database's syntax.
//
// Statements are written in SQLite's syntax with ? placeholders; the key store's tables are
// named with the schema "keystore" (a second file on SQLite, a schema of its own on
// PostgreSQL), the data tables without one (or "main"). Times are stored as fixed-width UTC
// text (TimeLayout) and compared as text, which both databases order as instants under a
// byte-order collation. Both schemas are created by each backend's numbered migrations, the
// same numbers on every backend, column for column.
//
// A backend opens its connections, runs write transactions one at a time (Base.Run, after
// taking its own lock) and read-only ones on a pool (Base.NewTx), and says when it committed
// (Base.Committed). The split-commit repair (reconcile) is here too: it finds nothing to do on a
// database that commits both schemas at once.
//
// Stores persist fully decided values: no time.Now, no id generation, no permission checks here.
package sqlstore
