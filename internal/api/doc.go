// Package api serves Tillit's JSON API under /api/v1 (DESIGN §5), /healthz and /api/openapi.json.
//
// Invariants:
//   - Every /api/v1 route needs a bearer token; each route names the permission it needs and the
//     token's role must grant it (token.Allows). That coarse permission is the only one checked
//     here: finer rules (closing an erasure request, using an erased address again, binding a
//     request to another address, exporting) live in the services, read from the token's role in
//     the context (token.Permits) inside the transaction that does the work.
//   - Errors are RFC 9457 problem+json, produced by writeProblem, the one place where apperr kinds
//     become HTTP status codes. The detail of an internal error is never sent; it is logged with
//     the request id.
//   - No handler sees a path parameter or query value that is not UTF-8 or holds U+0000: the
//     one handler in front of every route (API, portal, console) answers 400 naming it
//     (checkText), as the JSON reader refuses such strings in a body.
//   - Request logs carry the method, the route pattern, the status, the duration and the request
//     id: never a URL's query (it may hold an e-mail address) nor a body.
package api
