package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestAPIStrictness covers answers a new-user trial found wrong: wrong methods, media types,
// duplicate or wrongly cased keys, bytes that are not UTF-8, a lower-case auth scheme, bad cursors.
func TestAPIStrictness(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	raw := func(method, path, ctype, auth, body string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.Base+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	bearer := "Bearer " + p.Token
	for _, tc := range []struct {
		name, method, path, ctype, auth, body string
		status                                int
		want                                  string // a substring of the problem body
	}{
		{"wrong method", "PUT", "/api/v1/contacts/0190a0a0-0000-7000-8000-000000000000", "", bearer, "", 405, `"reason":"method_not_allowed"`},
		{"wrong method outside /api", "POST", "/healthz", "", "", "", 405, `"status":405`},
		{"unknown path", "GET", "/nowhere", "", "", "", 404, `"reason":"no_route"`},
		{"text/plain body", "POST", "/api/v1/contacts", "text/plain", bearer, `{"email":"x@example.org"}`, 415, `"field":"Content-Type"`},
		{"duplicate key", "POST", "/api/v1/contacts", "application/json", bearer, `{"email":"a@example.org","email":"b@example.org"}`, 400, `"reason":"duplicate_key"`},
		{"wrong case", "POST", "/api/v1/contacts", "application/json", bearer, `{"EMAIL":"a@example.org"}`, 400, `"field":"EMAIL"`},
		{"nested wrong case", "POST", "/api/v1/contacts", "application/json", bearer, `{"email":"a@example.org","address":{"City":"Lund"}}`, 400, `"field":"address.City"`},
		{"not UTF-8", "POST", "/api/v1/contacts", "application/json", bearer, "{\"email\":\"a@example.org\",\"first_name\":\"M\xfcller\"}", 400, `"reason":"invalid_utf8"`},
		{"bad occurred_at", "POST", "/api/v1/contacts/0190a0a0-0000-7000-8000-000000000000/consents", "application/json", bearer, `{"purpose":"newsletter","state":"dpv:ConsentGiven","occurred_at":"yesterday"}`, 400, `"field":"occurred_at"`},
		{"too large", "POST", "/api/v1/contacts", "application/json", bearer, `{"notes":"` + strings.Repeat("x", 1<<20) + `"}`, 413, `"reason":"too_large"`},
		{"bad cursor", "GET", "/api/v1/contacts?cursor=zzz", "", bearer, "", 400, `"field":"cursor"`},
		{"purpose name too long", "POST", "/api/v1/purposes", "application/json", bearer, `{"id":"long","name":"` + strings.Repeat("n", 201) + `","lawful_basis":"dpv:Consent"}`, 400, `"field":"name"`},
		{"unknown upload field", "POST", "/api/v1/imports", "multipart/form-data; boundary=B", bearer, "--B\r\nContent-Disposition: form-data; name=\"fromat\"\r\n\r\nmailchimp\r\n--B--\r\n", 400, `"field":"fromat"`},
		{"option after the file", "POST", "/api/v1/imports", "multipart/form-data; boundary=B", bearer, "--B\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\ngeneric\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\nemail\nlate@example.org\n\r\n--B\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\nunsubscribed\r\n--B--\r\n", 400, `"reason":"parts_after_file"`},
		{"unclean path", "GET", "/api/v1/contacts//consents", "", bearer, "", 404, `"reason":"no_route"`},
		{"HEAD of an audited read", "HEAD", "/api/v1/contacts", "", bearer, "", 405, ``},
		{"lower-case scheme", "GET", "/api/v1/contacts", "", "bearer " + p.Token, "", 200, `"items"`},
	} {
		st, h, body := raw(tc.method, tc.path, tc.ctype, tc.auth, tc.body)
		if st != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d with %s", tc.name, st, body, tc.status, tc.want)
		}
		if st >= 400 && h.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: Content-Type %q; want application/problem+json", tc.name, h.Get("Content-Type"))
		}
		if st == 405 && h.Get("Allow") == "" {
			t.Errorf("%s: 405 without an Allow header", tc.name)
		}
	}
}
