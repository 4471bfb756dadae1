// Package console serves the staff console: HTML pages for the data subject request queue (due
// dates, days left, filters) and each request's details, timeline and actions. Staff sign in with
// an API token, kept in an HttpOnly, SameSite=Strict cookie scoped to /console; every page checks
// the token's role as the API does, and every read of personal data is audited by the domain
// services it calls.
package console
