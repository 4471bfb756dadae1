package jsonin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
)

// oracle judges a body the way Decode into an interface must, with encoding/json's own tokenizer
// and no shortcut of the package's: one JSON value in UTF-8, nesting at most MaxDepth, no key
// twice in an object (keys compared after unescaping), no U+0000 in any key or string.
func oracle(body []byte) bool {
	if !json.Valid(body) || !utf8.Valid(body) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var objects []map[string]bool // the open containers: nil for an array
	expectKey := false            // the next token is a key (or the end) of the innermost object
	valueDone := func() {
		expectKey = len(objects) > 0 && objects[len(objects)-1] != nil
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		if str, ok := tok.(string); ok && strings.ContainsRune(str, 0) {
			return false
		}
		switch {
		case tok == json.Delim('}') || tok == json.Delim(']'):
			objects = objects[:len(objects)-1]
			valueDone()
		case expectKey:
			seen := objects[len(objects)-1]
			if seen[tok.(string)] {
				return false
			}
			seen[tok.(string)] = true
			expectKey = false
		case tok == json.Delim('{') || tok == json.Delim('['):
			if len(objects) == MaxDepth {
				return false
			}
			if tok == json.Delim('{') {
				objects, expectKey = append(objects, map[string]bool{}), true
			} else {
				objects, expectKey = append(objects, nil), false
			}
		default:
			valueDone()
		}
	}
}

// FuzzDecode checks Decode against encoding/json: into an interface it accepts exactly the
// documents the oracle accepts and decodes them to what json.Unmarshal gives, an accepted
// document survives a round trip, every refusal is an Invalid error naming a field, and the key
// check allocates at most 4 bytes per byte of body (plus a fixed 64 KiB).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"purpose":"a","audience":{"kind":"lead","extra":1}}`, `{"purpose":"a","audience":{"Kind":"lead"}}`,
		`{"purpose":"a","purpose":"b"}`, `[]`, `{"tags":"x"}`, `{"purpose":"a"} {}`, `{"bogus":true}`,
		`{"secret.person@example.com":"x"}`, `{"purpose":"a","audience":{"kind":"lead"},"tags":["x"]}`,
		`{"detected_at":"2026-11-29T10:00:00+01:00","notified_at":null,"people_affected":3,"months":2}`,
		`{"people_affected":1.5}`, `{"months":2e0}`, `{"\u0070urpose":"a","tags":["\ud83d\ude00"]}`,
		`{"a":"\ud800\u0041"}`, `{"a" 1}`, `{"purpose":01}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), "{" + numbered("k", 400) + `"k3":0}`,
		` {"x":[{},{"y":[-0.5e+3,true,false,null]}]} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := checkKeys(body, reflect.TypeFor[*any]())
		runtime.ReadMemStats(&after)
		if n, limit := after.TotalAlloc-before.TotalAlloc, 4*uint64(len(body))+64<<10; n > limit {
			t.Fatalf("the key check allocated %d bytes for %d", n, len(body))
		}
		_ = err

		var v any
		err = Decode(body, &v)
		if e := apperr.As(err); err != nil && (e == nil || e.Kind != apperr.Invalid || e.Field == "" || e.Reason == "") {
			t.Fatalf("Decode(%q): %#v; want an Invalid error naming a field", body, err)
		}
		if ok := oracle(body); ok != (err == nil) {
			t.Fatalf("Decode(%q) = %v; the oracle says ok=%v", body, err, ok)
		}
		if err != nil {
			return
		}
		var want any
		if err := json.Unmarshal(body, &want); err != nil || !reflect.DeepEqual(v, want) {
			t.Fatalf("Decode(%q) = %#v; json.Unmarshal gives %#v, %v", body, v, want, err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", v, err)
		}
		var w any
		if err := Decode(again, &w); err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip of %q: %q decodes to %#v, %v", body, again, w, err)
		}

		// Typed targets: no panic, and a refusal always names a field.
		for _, v := range []any{&campaignIn{}, &breachIn{}, &map[string]json.RawMessage{}} {
			if err := Decode(body, v); err != nil {
				if e := apperr.As(err); e == nil || e.Field == "" {
					t.Fatalf("Decode(%q, %T): %v", body, v, err)
				}
			}
		}
	})
}
