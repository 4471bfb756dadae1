// Package consent holds purposes, the append-only consent ledger with its current-state projection,
// and the suppression list.
//
// Invariants:
//   - Consent events are never updated or deleted except when their contact is erased. The current
//     state per contact and purpose is a projection of the events: the event with the latest
//     occurred_at wins (ties: the later recorded one), except that dpv:ConsentRequested never
//     replaces dpv:ConsentGiven (a repeated request must not downgrade a confirmed consent).
//   - Every event records the ISO/IEC TS 27560 fields of DESIGN §2: contact, purpose, state, method,
//     policy versions, notice hash, occurred time, recorded time, actor and evidence. IP address,
//     user agent and free-text evidence are personal data and are sealed under the contact's data key.
//   - A suppression is a keyed hash of a normalized address; it survives erasure. Only the person's
//     own new double opt-in lifts it (later issue); imports never do. It concerns the address
//     (a bounce, a complaint, an erasure); leaving one purpose's list concerns that purpose only
//     (Purpose.Leaving, PurposeUnsubscribe). An address has one entry: the first stands, except
//     that an erasure replaces an entry of another reason made before it (Replaces, Suppress).
//   - Editing profile fields never changes consent: nothing in package contact writes consent rows.
package consent
