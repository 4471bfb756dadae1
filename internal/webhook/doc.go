// Package webhook is the HTTP sender of webhook events (share.WebhookSender): an adapter, kept
// out of share so that no domain package depends on net/http.
//
// Invariants: a connection goes only to an address share.PublicOrLoopback allows, checked when
// dialling whatever name led to it (server-side request forgery through a processor's URL or its
// DNS is refused before any byte is sent); no proxy from the environment is used; a redirect is
// never followed (it would carry the signed event to another address, past the https rule); each
// send ends within 10 seconds (dial, TLS handshake and whole exchange), and at most 64 KiB of an
// answer's body is read. The answer's status and whether it came from this machine go back to
// share, which decides what the delivery log may show.
package webhook
