package api_test

import (
	"net/http"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestNULInAPathIDIsNotAServerError: found by a hostile-input trial on PostgreSQL. An id in the
// path holding a NUL byte (%00) reaches the store, where PostgreSQL refuses the text (SQLSTATE
// 22021, invalid byte sequence for encoding UTF8) and the API answered 500, logged as an
// internal error, on every route with an {id}, and so did the notification tasks' filters
// (processor_id, contact_id; also with invalid UTF-8): a client error must not be a server error, nor
// fill the error log on demand. SQLite answers 404 (no such row). Run it on PostgreSQL with
// TILLIT_TEST_STORE=postgres and TILLIT_TEST_POSTGRES_URL set.
func TestNULInAPathIDIsNotAServerError(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/contacts/a%00b"},
		{"GET", "/api/v1/contacts/a%00b/consents"},
		{"GET", "/api/v1/contacts/a%00b/export"},
		{"PATCH", "/api/v1/contacts/a%00b"},
		{"DELETE", "/api/v1/contacts/a%00b"},
		{"GET", "/api/v1/requests/a%00b"},
		{"GET", "/api/v1/campaigns/a%00b"},
		{"GET", "/api/v1/processors/a%00b"},
		{"GET", "/api/v1/imports/a%00b/errors"},
		{"GET", "/api/v1/breaches/a%00b"},
		{"GET", "/api/v1/purposes/a%00b"},
		{"GET", "/api/v1/notification-tasks?processor_id=a%00b"},
		{"GET", "/api/v1/notification-tasks?processor_id=%ff"}, // invalid UTF-8: 22021 too
		{"GET", "/api/v1/notification-tasks?contact_id=a%00b"},
	} {
		var body any
		if tc.method == "PATCH" {
			body = map[string]any{}
		}
		st := p.Do(tc.method, tc.path, body, nil)
		if st >= http.StatusInternalServerError {
			t.Errorf("%s %s: %d; want a client error (404 or 400), not a server error", tc.method, tc.path, st)
		}
	}
}
