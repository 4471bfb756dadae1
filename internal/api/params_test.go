package api

import "testing"

// TestPathParamNamesTheWildcard: the parameter named is the wildcard whose segment holds the bad
// text, segments matched as http.ServeMux matches them.
func TestPathParamNamesTheWildcard(t *testing.T) {
	for _, c := range []struct{ pattern, path, want string }{
		{"GET /api/v1/contacts/{id}", "/api/v1/contacts/a%00", "id"},
		{"GET /api/v1/contacts/{id}/consents/{event_id}/receipt", "/api/v1/contacts/x/consents/%ff/receipt", "event_id"},
		{"GET /api/v1/contacts/{id}/consents/{event_id}/receipt", "/api/v1/contacts/a%2F%00/consents/e/receipt", "id"},
		{"GET /files/{rest...}", "/files/a/b%00/c", "rest"},
		{"GET example.org/p/{token}", "/p/%00", "token"},
		{"/p/{token}/{$}", "/p/%00/", "token"},
		{"GET /p/{token}", "/p/ok", "path"}, // no wildcard holds bad text
	} {
		if got := pathParam(c.pattern, c.path); got != c.want {
			t.Errorf("pathParam(%q, %q) = %q; want %q", c.pattern, c.path, got, c.want)
		}
	}
}
