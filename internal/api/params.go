package api

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
)

// checkText refuses text no route takes in a path parameter or a query value, whatever the
// route (API, portal or console): bytes that are not UTF-8 (reason "invalid_utf8") and U+0000
// (reason "control_character"), the rule of the JSON reader (internal/jsonin) for strings.
// PostgreSQL's text holds neither (SQLSTATE 22021): an id or a filter holding one answered 500.
// The error names the path parameter by its name in pattern ("id", "token") or the query
// parameter ("processor_id"); "query" for a bad key, "path" if pattern names none. Other control
// characters pass, as in JSON: a route's own rules refuse them where they matter.
func checkText(pattern string, u *url.URL) error {
	if badText(u.Path) != "" {
		return paramError(pathParam(pattern, u.EscapedPath()), u.Path)
	}
	rawQuery := u.RawQuery
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue // url.ParseQuery drops such a pair: no handler reads it
		}
		if badText(key) != "" {
			return paramError("query", key)
		}
		if badText(value) != "" {
			return paramError(key, value)
		}
	}
	return nil
}

// badText returns the reason s may not be a parameter, or "".
func badText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "invalid_utf8"
	case strings.IndexByte(s, 0) >= 0:
		return "control_character"
	}
	return ""
}

func paramError(field, value string) error {
	if badText(value) == "invalid_utf8" {
		return apperr.Invalidf(field, "invalid_utf8", "%s: not valid UTF-8", field)
	}
	return apperr.Invalidf(field, "control_character", "%s: must not contain U+0000", field)
}

// pathParam names the wildcard of pattern ("GET /api/v1/contacts/{id}") whose segment of
// escapedPath holds bad text, matching segments as http.ServeMux does (an escaped slash stays in
// its segment; "{name...}" takes the rest of the path), or "path".
func pathParam(pattern, escapedPath string) string {
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = rest
	}
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		pattern = pattern[i:] // no host
	}
	want, got := strings.Split(pattern, "/"), strings.Split(escapedPath, "/")
	for i, w := range want {
		if i >= len(got) {
			break
		}
		if len(w) < 2 || w[0] != '{' || w[len(w)-1] != '}' || w == "{$}" {
			continue
		}
		name := w[1 : len(w)-1]
		seg := got[i]
		if n, rest := strings.CutSuffix(name, "..."); rest {
			name, seg = n, strings.Join(got[i:], "/")
		}
		if v, err := url.PathUnescape(seg); err == nil && badText(v) != "" {
			return name
		}
	}
	return "path"
}
