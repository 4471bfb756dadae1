package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestEveryAnswerForbidsSniffingAndFraming: found by a reliability trial (D9). Portal pages sent
// no frame-ancestors or X-Frame-Options (the one-button pages could be framed for
// clickjacking), and no answer sent X-Content-Type-Options: nosniff. Every answer of every
// surface, errors and 404s included, now carries all three.
func TestEveryAnswerForbidsSniffingAndFraming(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	for _, tc := range []struct {
		method, path, token, ctype, body string
		status                           int
		html                             bool
	}{
		{"GET", "/healthz", "", "", "", 200, false},
		{"GET", "/.well-known/gpc.json", "", "", "", 200, false},
		{"GET", "/api/openapi.json", "", "", "", 200, false},
		{"GET", "/api/v1/contacts", "", "", "", 401, false},
		{"GET", "/api/v1/contacts", p.Token, "", "", 200, false},
		{"GET", "/api/v1/contacts/no-such-id", p.Token, "", "", 404, false},
		{"GET", "/api/v1/no-such-route", p.Token, "", "", 404, false},
		{"HEAD", "/api/v1/contacts", p.Token, "", "", 405, false},
		{"GET", "/no-such-page", "", "", "", 404, false},
		{"GET", "/p/privacy", "", "", "", 200, true},
		{"GET", "/p/subscribe", "", "", "", 200, true},
		{"POST", "/p/subscribe", "", "application/json", `{"email":1}`, 400, false},
		{"POST", "/p/subscribe", "", "application/x-www-form-urlencoded", "email=not-an-address", 400, true},
		{"GET", "/p/confirm/unknown-token", "", "", "", 200, true},
		{"GET", "/u/unknown-token", "", "", "", 200, true},
		{"GET", "/p/preferences/unknown-token", "", "", "", 200, true},
		{"GET", "/p/requests", "", "", "", 200, true},
		{"GET", "/p/requests/verify/unknown-token", "", "", "", 200, true},
		{"GET", "/p/requests/download/unknown-token", "", "", "", 200, true},
		{"GET", "/p/dpa", "", "", "", 409, true},
		{"GET", "/p/dpa/no-such-request", "", "", "", 404, false},
		{"GET", "/console/login", "", "", "", 200, true},
		{"GET", "/console/requests", "", "", "", 303, false},
	} {
		req, err := http.NewRequest(tc.method, p.Base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // redirects are answers too
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		name := tc.method + " " + tc.path
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d; want %d", name, resp.StatusCode, tc.status)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q; want nosniff", name, got)
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q; want DENY", name, got)
		}
		csp := h.Values("Content-Security-Policy")
		if len(csp) != 1 || !strings.Contains(csp[0], "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q; want one policy with frame-ancestors 'none'", name, csp)
		}
		if resp.StatusCode/100 == 3 {
			continue // a redirect's one-line body has no page policy
		}
		if isHTML := strings.HasPrefix(h.Get("Content-Type"), "text/html"); isHTML != tc.html {
			t.Errorf("%s: Content-Type %q; html %v, want %v", name, h.Get("Content-Type"), isHTML, tc.html)
		} else if isHTML && (len(csp) != 1 || !strings.Contains(csp[0], "default-src 'none'")) {
			t.Errorf("%s: page policy %q lost default-src 'none'", name, csp)
		}
	}
}
