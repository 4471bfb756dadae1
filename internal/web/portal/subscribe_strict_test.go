package portal_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestSubscribeReadsInputStrictly: the public subscribe endpoint reads JSON as strictly as the
// API (a key in the wrong case, a key twice, unknown keys and trailing data are refused, naming
// the field; too large a body is 413), and mails nobody for a refused body; an HTML form naming
// an unknown purpose is told so, not that the address is wrong; a multipart form works.
func TestSubscribeReadsInputStrictly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	post := func(ctype string, body io.Reader) (int, map[string]any, string) {
		t.Helper()
		resp, err := http.Post(p.Base+"/p/subscribe", ctype, body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var prob map[string]any
		json.Unmarshal(b, &prob)
		return resp.StatusCode, prob, string(b)
	}
	for _, tc := range []struct {
		body, field, reason string
		status              int
	}{
		{`{"Email":"victim@example.com"}`, "Email", "", 400},
		{`{"email":"x@example.com","email":"y@example.com"}`, "email", "", 400},
		{`{"email":"x@example.com","bogus":1}`, "bogus", "unknown_field", 400},
		{`{"email":"x@example.com"} trailing`, "body", "malformed_json", 400},
		{`{"email":"x@example.com","purposes":"newsletter"}`, "purposes", "wrong_type", 400},
		{`{"email":"` + strings.Repeat("a", 70<<10) + `@example.com"}`, "body", "too_large", 413},
	} {
		st, prob, raw := post("application/json", strings.NewReader(tc.body))
		if st != tc.status || prob["field"] != tc.field || (tc.reason != "" && prob["reason"] != tc.reason) || prob["status"] != float64(tc.status) {
			t.Errorf("JSON %.60s: %d %s; want %d naming field %s", tc.body, st, raw, tc.status, tc.field)
		}
		if strings.Contains(raw, "example.com") {
			t.Errorf("problem echoes the address: %s", raw)
		}
	}
	st, _, page := post("application/x-www-form-urlencoded", strings.NewReader(url.Values{"email": {"fine@example.org"}, "purposes": {"nope"}}.Encode()))
	if st != 400 || !strings.Contains(page, "a kind of mail we do not offer") || strings.Contains(page, "does not look like an e-mail address") {
		t.Errorf("form with an unknown purpose: %d %s; want the purpose named as the problem", st, page)
	}
	if st, _, _ := post("application/x-www-form-urlencoded", strings.NewReader("email=big%40example.org&form_id="+strings.Repeat("x", 70<<10))); st != 413 {
		t.Errorf("form over 64 KiB: %d; want 413", st)
	}
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("email", "multi@example.org")
	w.Close()
	if st, _, page := post(w.FormDataContentType(), &mp); st != 200 || !strings.Contains(page, "inbox") {
		t.Errorf("multipart form: %d %s; want the check-your-inbox page", st, page)
	}
	var l apptest.List
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "multi@example.org"}, &l)
	if len(l.Items) != 1 {
		t.Errorf("multipart subscription made no lead: %+v", l)
	}
	for _, e := range []string{"victim@example.com", "x@example.com", "y@example.com"} {
		var l apptest.List
		p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": e}, &l)
		if len(l.Items) != 0 {
			t.Errorf("a refused body created %s", e)
		}
	}
}
