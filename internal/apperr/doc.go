// Package apperr holds the one error vocabulary shared by every Tillit package.
//
// Invariants:
//   - Every error a domain package returns to a surface (API, CLI, page) is either an *Error with a
//     Kind, or an unexpected error that surfaces treat as Internal.
//   - An *Error's Message is safe to show to a client: it names fields and lines, never values of
//     personal data. Internal errors are never shown; surfaces log them by request id.
//   - Kinds map to HTTP status codes in exactly one place per surface (api.writeProblem).
package apperr
