// Package mail builds and sends Tillit's e-mail: transactional messages (confirmations,
// verification, data subject request notices) and marketing messages, through a transport that
// is SMTP (github.com/wneessen/go-mail) or, by default, files under the data directory.
//
// Invariants:
//   - A message is rendered completely before it is queued, so a retry sends exactly what was
//     approved; the outbox keeps it sealed under the recipient contact's data key.
//   - Transactional and marketing messages are separate streams; marketing and a
//     consent-request campaign's requests (transactional, with a campaign and a purpose) carry
//     List-Unsubscribe (RFC 2369, RFC 8058) and are gated per recipient at hand-off.
//   - No address, name or body goes into a log or an error message: errors name message ids.
package mail
