// Package console serves the staff console: HTML pages for the data subject request queue (due
// dates, days left, filters) and each request's details, timeline and actions. Staff sign in with
// an API token; the browser gets only a random session id (an HttpOnly, SameSite=Strict cookie
// scoped to /console) and the token stays in the server process. Every page checks the token's
// role as the API does, and every read of personal data is audited by the domain services it
// calls.
package console
