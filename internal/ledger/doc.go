// Package ledger is the record of choices a restore must never undo: erasures (GDPR Art. 17),
// suppressions, addresses that left one purpose's list (imported unsubscribes), withdrawals
// (Art. 7(3)) and refusals of consent, objections (Art. 21), restrictions (Art. 18) and verified
// erasure, restriction, objection and withdrawal requests (Art. 12(3)). tillit
// ledger export writes it as JSON lines, kept apart from the backups; tillit ledger replay
// re-applies it to a data directory restored from a backup.
//
// Invariants:
//   - A ledger line holds ids, times, keyed hashes, methods, actors and evidence sealed as stored
//     under the person's own data key; never an address, a name or any other field in the clear.
//   - A file is checked whole before anything is applied: a bad line is an error naming its line
//     number and field, and nothing changes.
//   - Replay goes through the domain services (consent, contact) that the live path uses, so
//     the gate, the change stream to processors and the audit log see every change; it is
//     idempotent: a line the store holds already changes nothing and counts as already present.
//   - A file's first line names the blind-index key its hashes were made under (keys.IndexKeyID);
//     replay refuses a file of another key. Files without it replay unchecked, with a warning.
//   - Lines about a contact (withdrawal, refusal, objection, restriction, request) carry the keyed
//     suppression hash of its address at export ("hash"; lines written before it have none).
//     When the store replayed on lacks the contact (created after the backup), replay re-applies
//     the choice by that hash, so a later import or sign-up of the address obeys it: a
//     withdrawal, refusal or objection to purpose P as the address leaving P's list
//     (consent.PurposeUnsubscribe); an objection to direct marketing as a suppression, reason
//     objected; a restriction or an open restriction request as a suppression, reason
//     restricted; an open erasure request as a suppression, reason erased. Such lines count as
//     applied; without a hash they count as not present.
//   - An older suppression never beats the person's later confirmed double opt-in
//     (consent.Outdated): a replayed suppression, erasure or by-address line made before it is
//     not put back.
//   - Old files of the erasure ledger (lines of only contact_id and erased_at) replay as erasures.
package ledger
