// Package audit defines Tillit's append-only, hash-chained audit log of every access to and change
// of personal data (DESIGN §1 promise 12, GDPR Art. 5(2) accountability and Art. 30/32).
//
// Invariants:
//   - An event holds ids, an action, field names, the actor and the request id: never values of
//     personal data, never blind indexes.
//   - Events are numbered from 1 without gaps. Event n stores the hash of event n-1 (32 zero bytes
//     for event 1) and its own hash, SHA-256 over a length-prefixed encoding of every member and
//     the previous hash. Altering, deleting or reordering any stored event breaks the chain at the
//     first affected sequence number, which Verify reports.
//   - Callers append the event in the same transaction as the read or write it records (fail
//     closed: no event, no plaintext).
package audit
