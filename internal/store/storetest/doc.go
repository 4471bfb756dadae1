// Package storetest is the contract suite every Tillit store implementation must pass: SQLite
// always, PostgreSQL when TILLIT_TEST_POSTGRES_URL is set (STYLE.md, Tests). A backend's test
// calls Run with a Backend whose Open returns a fresh store.Store.
//
// Invariants:
//   - The suite drives a store only through store.Store and store.Tx (the union of the domain
//     transaction interfaces, whose doc comments are the contract); it never reaches into a
//     store's tables. What only raw access can do (tampering with the audit log, looking for
//     remnants in the files) goes through the Backend's optional hooks.
//   - Every method of store.Tx is driven by at least one case: each case's transactions go
//     through a recorder (recorder_gen.go, generated from store.Tx's method set by
//     internal/recordergen, whose test fails when the file is stale), and the guard
//     EveryTxMethodDriven fails, after the whole suite, for a method no case called.
//   - Every case opens a fresh, empty store through Backend.Open, so cases are independent and
//     run in parallel. Cases are split by domain, one file each.
//   - Assertions are exact: values written come back equal (times equal to the nanosecond and in
//     UTC), missing keys are apperr.NotFound and never (nil, nil), and a rolled-back write leaves
//     no trace, audit events included.
//   - Every store call runs under a deadlock guard (a generous context deadline) so that a store
//     that blocks fails its case with a message instead of hanging the whole test binary. The
//     guard measures no speed.
package storetest
