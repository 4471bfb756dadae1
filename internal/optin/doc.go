// Package optin runs double opt-in (issue 4): the subscription request, the confirmation mail
// with its single-use token, and the confirmation.
//
// Invariants:
//   - The answer to a subscription is the same whether the address is new, pending, confirmed or
//     suppressed; a confirmed consent is never downgraded.
//   - Tokens are 256-bit random, kept only as SHA-256 hashes, bound to contact, purposes and policy
//     versions, single-use and expiring (default 72 h). A used, expired or unknown token changes
//     nothing.
//   - Every consent is recorded through consent.Service.RecordIn, the one path of every channel;
//     the confirmation is the person's own act, so it lifts a suppression of the address.
//   - A Global Privacy Control signal on the request records an objection to every
//     sale-or-sharing purpose (consent.Service.ApplyGPCIn).
package optin
