// Package storetest is the contract suite every Tillit store implementation must pass: SQLite
// always, PostgreSQL when TILLIT_TEST_POSTGRES_URL is set (STYLE.md, Tests).
//
// Invariants:
//   - The suite drives a store only through the domain Tx interfaces (contact.Tx, consent.Tx,
//     token.Tx, importer.Tx) plus VerifyAudit and Checkpoint; it never reaches into a store's tables.
//   - Every subtest opens a fresh, empty store through the Opener, so subtests are independent and
//     run in parallel.
//   - Assertions are exact: values written come back equal (times equal to the nanosecond and in
//     UTC), missing keys are apperr.NotFound and never (nil, nil), and a rolled-back write leaves
//     no trace, audit events included.
//   - Every store call runs under a deadlock guard (a generous context deadline) so that a store
//     that blocks fails its subtest with a message instead of hanging the whole test binary. The
//     guard measures no speed.
package storetest
