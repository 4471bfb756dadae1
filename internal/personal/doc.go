// Package personal is the personal-data register: every kind of personal data Tillit keeps about
// a person (a holding), in plain words, with the files of the access bundle that carry it (GDPR
// Art. 15, 20) and what erasure does with it: deleted, or kept under a named exemption (Art.
// 17(3), 5(2), 19).
//
// The register is the one place a holding is described. The erasure receipt (package dsr) takes
// each holding's words and disposition from here; a store only counts the person's rows per
// holding (dsr.Tx.PersonalFootprint) and maps each holding to its own tables (for SQLite,
// store/sqlite/personal.go); the contract suite (store/storetest) checks against this list that
// every holding erasure deletes is gone after an erasure, so each backend inherits the check.
//
// Invariants, held by the tests of this package, of dsr and of each backend:
//   - Every holding has a unique, stable id, words without a table or column name, a bundle file
//     or a reason it is not exported, and is either deleted by erasure or kept with its
//     exemption and GDPR article.
//   - Every bundle file a holding names is a file of the access bundle (dsr.Bundle.WriteZip).
//   - Every holding is mapped to a table by every backend, and every table of a backend's schema
//     is either mapped to a holding or declared not personal.
//
// The package imports nothing of Tillit: stores, domain services and tests all read it.
package personal
