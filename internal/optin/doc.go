// Package optin runs double opt-in (issue 4): the subscription request, the confirmation mail
// with its single-use token, and the confirmation.
//
// Invariants:
//   - The answer to a subscription is the same whether the address is new, pending, confirmed or
//     suppressed; a confirmed consent is never downgraded.
//   - No page claims a mail that was not sent: every public sign-up queues a confirmation link or,
//     with nothing to confirm, a note saying why, except within ResendAfter of the last such
//     message to the address, which the page states (issue 11).
//   - An address on the suppression list always gets the confirmation, whatever consent is on
//     record: the person's own confirmation is the one way back (DESIGN §2), audited as
//     "suppression.lift".
//   - A consent request's unsubscribe link (LinkRefuse) records dpv:ConsentRefused; a marketing
//     message's withdraws.
//   - Confirmation tokens are 256-bit random, kept only as SHA-256 hashes, bound to contact,
//     purposes and policy versions, single-use and expiring (default 72 h). A used, expired or
//     unknown token changes nothing.
//   - Unsubscribe, refusal and preferences links are sealed (LinkKeys, keys.Keyring.SealLink):
//     the token itself names contact, purpose and kind, encrypted, with no row in the store, so
//     a restore from a backup older than the mail cannot make a person's "no" mean nothing.
//     Random tokens of older mail are honoured by their stored hash. A token that names nothing
//     (not ours, its row or its contact gone) changes nothing, and its pages say so: no page
//     says a choice was recorded when it was not.
//   - Every consent is recorded through consent.Service.RecordIn, the one path of every channel;
//     the confirmation is the person's own act, so it lifts a suppression of the address.
//   - A Global Privacy Control signal on the request records an objection to every
//     sale-or-sharing purpose (consent.Service.ApplyGPCIn).
package optin
