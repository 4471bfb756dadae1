// Package normalize is the one normalization of personal identifiers used by every path that
// stores, looks up or compares them: the API, web forms, CSV import, unsubscribe, data subject
// requests and the suppression list (DESIGN.md §4). Blind indexes and suppression hashes are
// computed over its output, so two paths that normalized differently would fail to find the same
// person, or mail someone who unsubscribed.
//
// Invariants:
//
//   - One function per identifier kind: [Email] for e-mail addresses, [Phone] for telephone
//     numbers. Nothing else in the program normalizes these values.
//   - Idempotent: Email(Email(x)) == Email(x) and Phone(Phone(x, r), "") == Phone(x, r) for
//     every accepted input.
//   - Versioned: [Version] is part of every blind-index domain-separation string; any change to
//     the rules (including an upgrade of the IDNA or phone-number tables that changes an output)
//     bumps it, and the indexes are rebuilt.
//   - Refusals are *apperr.Error values of kind apperr.Invalid with Field "email" or "phone" and
//     a stable Reason code. Their messages never contain the input: the input is personal data.
//   - Pure: no I/O, no clock, no package-level mutable state; safe for concurrent use.
package normalize

// Version is the normalization version; it is part of every blind-index domain-separation
// string, so a change of rules bumps it.
const Version = 1
