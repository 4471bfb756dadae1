package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestNULInAPathIDIsNotAServerError: found by a hostile-input trial on PostgreSQL. An id in the
// path holding a NUL byte (%00) reaches the store, where PostgreSQL refuses the text (SQLSTATE
// 22021, invalid byte sequence for encoding UTF8) and the API answered 500, logged as an
// internal error, on every route with an {id}, and so did the notification tasks' filters
// (processor_id, contact_id; also with invalid UTF-8): a client error must not be a server error, nor
// fill the error log on demand. SQLite answered 404 (no such row). Now every route, of the API,
// the portal and the console, refuses such a path parameter or query value before its handler
// runs: 400 naming the parameter, with the JSON reader's reasons (control_character,
// invalid_utf8), on either store. Run it on PostgreSQL with TILLIT_TEST_STORE=postgres and
// TILLIT_TEST_POSTGRES_URL set.
func TestNULInAPathIDIsNotAServerError(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	for _, tc := range []struct {
		method, path, token string
		field, reason       string
	}{
		{"GET", "/api/v1/contacts/a%00b", p.Token, "id", "control_character"},
		{"GET", "/api/v1/contacts/a%00b/consents", p.Token, "id", "control_character"},
		{"GET", "/api/v1/contacts/a%00b/export", p.Token, "id", "control_character"},
		{"PATCH", "/api/v1/contacts/a%00b", p.Token, "id", "control_character"},
		{"DELETE", "/api/v1/contacts/a%00b", p.Token, "id", "control_character"},
		{"GET", "/api/v1/contacts/a%ffb", p.Token, "id", "invalid_utf8"},
		{"GET", "/api/v1/contacts/a%2F%00b", p.Token, "id", "control_character"}, // an escaped slash stays in its segment
		{"GET", "/api/v1/contacts/0190a0a0-0000-7000-8000-000000000000/consents/e%00/receipt", p.Token, "event_id", "control_character"},
		{"DELETE", "/api/v1/contacts/0190a0a0-0000-7000-8000-000000000000/objections/%ff", p.Token, "scope", "invalid_utf8"},
		{"GET", "/api/v1/requests/a%00b", p.Token, "id", "control_character"},
		{"GET", "/api/v1/campaigns/a%00b", p.Token, "id", "control_character"},
		{"GET", "/api/v1/processors/a%00b", p.Token, "id", "control_character"},
		{"GET", "/api/v1/imports/a%00b/errors", p.Token, "id", "control_character"},
		{"GET", "/api/v1/breaches/a%00b", p.Token, "id", "control_character"},
		{"GET", "/api/v1/purposes/a%00b", p.Token, "id", "control_character"},
		{"GET", "/api/v1/notification-tasks?processor_id=a%00b", p.Token, "processor_id", "control_character"},
		{"GET", "/api/v1/notification-tasks?processor_id=%ff", p.Token, "processor_id", "invalid_utf8"}, // 22021 too
		{"GET", "/api/v1/notification-tasks?contact_id=a%00b", p.Token, "contact_id", "control_character"},
		{"GET", "/api/v1/contacts?limit=1&email=a%00@example.org", p.Token, "email", "control_character"},
		{"GET", "/api/v1/contacts?a%00=1", p.Token, "query", "control_character"}, // a key is not named
		// Before authentication: the answer tells nothing about the token.
		{"GET", "/api/v1/contacts/a%00b", "", "id", "control_character"},
		// The portal's and the console's routes go through the same handler.
		{"GET", "/p/dpa/a%00b", "", "id", "control_character"},
		{"GET", "/p/confirm/a%ffb", "", "token", "invalid_utf8"},
		{"GET", "/u/a%00b", "", "token", "control_character"},
		{"GET", "/console/requests/a%00b", "", "id", "control_character"},
		{"GET", "/p/privacy?lang=%00", "", "lang", "control_character"},
	} {
		req, err := http.NewRequest(tc.method, p.Base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		if tc.method == "PATCH" {
			req.Header.Set("Content-Type", "application/json")
			req.Body = io.NopCloser(strings.NewReader("{}"))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var pr struct {
			Status              int
			Code, Field, Reason string
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = json.Unmarshal(b, &pr)
		if len(b) > 200 {
			b = b[:200]
		}
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" ||
			pr.Code != "invalid" || pr.Field != tc.field || pr.Reason != tc.reason {
			t.Errorf("%s %s: %d %s %s; want 400 problem+json, field %s, reason %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.field, tc.reason)
		}
	}
	if strings.Contains(p.Logs.String(), "request failed") {
		t.Errorf("a refused parameter was logged as an internal error:\n%s", p.Logs)
	}
	// Text the stores take still reaches the route: another control character in an id (no such
	// contact), a tab and an accent in a filter (no such task).
	if st := p.Do("GET", "/api/v1/contacts/a%01b", nil, nil); st != http.StatusNotFound {
		t.Errorf("GET /api/v1/contacts/a%%01b: %d; want 404", st)
	}
	var tasks struct{ Items []any }
	if st := p.Do("GET", "/api/v1/notification-tasks?processor_id=%C3%A9%09", nil, &tasks); st != http.StatusOK || len(tasks.Items) != 0 {
		t.Errorf("GET /api/v1/notification-tasks?processor_id=%%C3%%A9%%09: %d %+v; want 200 and no tasks", st, tasks)
	}
}
