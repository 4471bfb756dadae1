// Package contact holds contacts and leads (one person, one record, DESIGN §2) and the rules for
// creating, reading, finding, changing, converting and erasing them.
//
// Invariants:
//   - Every personal field is sealed under the contact's own data key before it reaches a store,
//     with associated data binding table "contacts", the column, the contact id and the key version.
//   - Lookup by e-mail or phone goes through blind indexes of the normalized value (package
//     normalize); one normalized e-mail is one contact, a second create answers Conflict with the
//     existing id.
//   - Every decrypting read and every write appends an audit event in the same store transaction;
//     when the event cannot be written, no plaintext is returned and nothing is changed.
//   - Erasure deletes the data key, index and data rows (and with them the consent events), keeps a
//     suppression hash with reason "erased" (which replaces an earlier entry's reason as of the
//     erasure: consent.Replaces), and appends the id with the suppression hashes of its
//     addresses to the erasure ledger; a replay of the ledger (package ledger) does the same for a
//     store restored from a backup.
//   - Nothing here changes consent: profile edits never touch the consent ledger.
//   - Using an erased address again (recreate_erased) needs contacts.erase, and correcting a
//     restricted contact by request needs contacts.restrict, read from the actor in the context
//     (token.Permits) inside the transaction that writes (permission.go).
package contact
