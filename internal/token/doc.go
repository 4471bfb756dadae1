// Package token holds API tokens and the roles that say what each may do.
//
// Invariants:
//   - A token's secret is shown once, when it is created; only its SHA-256 hash is stored.
//   - Roles are admin, dpo, agent, auditor (staff) and processor (one token per registered
//     processor, reading only the contacts shared with it). An auditor reads the audit log and
//     never a personal field; Allows is the one place where roles become permissions.
package token
