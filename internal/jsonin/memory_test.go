package jsonin

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
)

// allocated returns the bytes f allocates on the heap (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// subscribeIn is the body of POST /p/subscribe, the public endpoint of the reliability trial.
type subscribeIn struct {
	Email    string   `json:"email"`
	Purposes []string `json:"purposes"`
	FormID   string   `json:"form_id"`
}

// repeatTo repeats unit until the result is at least n bytes.
func repeatTo(unit string, n int) string { return strings.Repeat(unit, n/len(unit)+1) }

// numbered writes keys "k0", "k1", … as members `"kN":1,` until n bytes.
func numbered(prefix string, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(`"` + prefix + strconv.Itoa(i) + `":1,`)
	}
	return b.String()
}

const mib = 1 << 20

// TestDecodeRefusesDeepNesting: found by the reliability trial (D2). A 64 KiB body of "[" to
// POST /p/subscribe cost ~4 GB (the walk kept a path string per level: depth² bytes) and killed
// the server. Nesting deeper than MaxDepth is now refused, naming where.
func TestDecodeRefusesDeepNesting(t *testing.T) {
	brackets := strings.Repeat("[", mib)
	objects := strings.Repeat(`{"a":`, mib/5)
	typed := `{"audience":{"kind":` + strings.Repeat("[", mib)
	for _, tc := range []struct {
		name, body string
		v          any
		field      string
	}{
		{"1 MiB of [ into a struct", brackets, &subscribeIn{}, strings.Repeat("[]", MaxDepth)},
		{"1 MiB of [ into a map", brackets, &map[string]json.RawMessage{}, strings.Repeat("[]", MaxDepth)},
		{`1 MiB of {"a": into a map`, objects, &map[string]json.RawMessage{}, strings.TrimSuffix(strings.Repeat("a.", MaxDepth), ".")},
		{`1 MiB of {"a": into any`, objects, new(any), strings.TrimSuffix(strings.Repeat("a.", MaxDepth), ".")},
		{"deep inside a typed field", typed, &campaignIn{}, "audience.kind" + strings.Repeat("[]", MaxDepth-2)},
		{"non-plain keys are not echoed", strings.Repeat(`{"x@y.z":`, 100), new(any), strings.TrimSuffix(strings.Repeat("(key).", MaxDepth), ".")},
	} {
		var e *apperr.Error
		n := allocated(func() { e = apperr.As(Decode([]byte(tc.body), tc.v)) })
		if e == nil || e.Reason != "too_deep" || e.Field != tc.field || !strings.Contains(e.Message, "nested deeper than 32 levels") || strings.Contains(e.Message, "x@y") {
			t.Errorf("%s: %v (field %q); want too_deep at %q", tc.name, e, fieldOf(e), tc.field)
		}
		if limit := 2*uint64(len(tc.body)) + 64<<10; n > limit {
			t.Errorf("%s: allocated %d bytes for a %d-byte body; want at most %d", tc.name, n, len(tc.body), limit)
		}
	}
	// MaxDepth levels are fine.
	var v any
	body := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if err := Decode([]byte(`{"a":`+body[1:len(body)-1]+`}`), &v); err != nil {
		t.Errorf("%d levels: %v", MaxDepth, err)
	}
}

func fieldOf(e *apperr.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

// TestDecodeMemoryIsLinear: the key check allocates at most about the body's size for any shape
// (deep, wide, many keys, keys under a deep path), and the whole Decode a small multiple of it
// (the rest is the value being built). An assertion on bytes, not on time.
func TestDecodeMemoryIsLinear(t *testing.T) {
	deepPath := strings.Repeat(`{"`+strings.Repeat("k", 64)+`":`, MaxDepth-1)
	shapes := []struct{ name, body string }{
		{"numbers", "[" + repeatTo("1,", mib) + "1]"},
		{"empty objects", "[" + repeatTo("{},", mib) + "{}]"},
		{"empty arrays", "[" + repeatTo("[],", mib) + "[]]"},
		{"small objects", "[" + repeatTo(`{"a":1},`, mib) + `{"a":1}]`},
		{"strings in a typed array", `{"purposes":[` + repeatTo(`"",`, mib) + `""]}`},
		{"many keys", "{" + numbered("k", mib) + `"z":1}`},
		{"escaped keys", "{" + numbered(`\u006b`, mib) + `"z":1}`},
		{"many keys under a long path", deepPath + "{" + numbered("", mib) + `"z":1}` + strings.Repeat("}", MaxDepth-1)},
		{"long strings", `{"email":"` + strings.Repeat("a", mib) + `"}`},
	}
	targets := []struct {
		name string
		new  func() any
	}{
		{"subscribe", func() any { return &subscribeIn{} }},
		{"map", func() any { return &map[string]json.RawMessage{} }},
		{"any", func() any { return new(any) }},
	}
	for _, sh := range shapes {
		body := []byte(sh.body)
		for _, tg := range targets {
			v := tg.new()
			var err error
			walk := allocated(func() { err = checkKeys(body, reflect.TypeOf(v)) })
			if limit := 4*uint64(len(body)) + 64<<10; walk > limit {
				t.Errorf("%s into %s: the key check allocated %d bytes for %d (%v); want at most %d", sh.name, tg.name, walk, len(body), err, limit)
			}
			if tg.name == "any" {
				continue // an interface builds a map per object: the caller's choice of type
			}
			v = tg.new()
			all := allocated(func() { err = Decode(body, v) })
			if limit := 40 * uint64(len(body)); all > limit {
				t.Errorf("%s into %s: Decode allocated %d bytes for %d (%v); want at most %d", sh.name, tg.name, all, len(body), err, limit)
			}
		}
	}
}

// TestScannerAgreesWithEncodingJSON: keys with escapes are matched after unescaping, as
// encoding/json matches them, and malformed JSON is refused with its offset.
func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	var v campaignIn
	if err := Decode([]byte(`{"\u0070urpose":"a","tags":["\ud83d\ude00"]}`), &v); err != nil || v.Purpose != "a" || v.Tags[0] != "😀" {
		t.Errorf("escaped key: %+v, %v", v, err)
	}
	e := apperr.As(Decode([]byte(`{"purpose":"a","\u0070urpose":"b"}`), &v))
	if e == nil || e.Reason != "duplicate_key" || e.Field != "purpose" {
		t.Errorf("escaped duplicate: %v", e)
	}
	// Past smallObject keys, duplicates are found through hashes: still every one, escaped or not.
	many := numbered("k", 2000)
	for _, tc := range []struct{ body, field string }{
		{"{" + many + `"k7":2}`, "k7"},
		{"{" + many + `"\u006b100":2}`, "k100"},
		{`{"a":{` + many + `"k20":{"x":1},"k20":3}}`, "a.k20"},
	} {
		var m map[string]any
		e := apperr.As(Decode([]byte(tc.body), &m))
		if e == nil || e.Reason != "duplicate_key" || e.Field != tc.field {
			t.Errorf("duplicate %s among many keys: %v", tc.field, e)
		}
	}
	var m map[string]any
	if err := Decode([]byte("{"+many+`"z":1}`), &m); err != nil || len(m) < 200 {
		t.Errorf("many distinct keys: %v", err)
	}
	for _, body := range []string{`{"a" 1}`, `{"purpose":tru}`, `{"purpose":"a\x01"}`, `{"purpose":01}`, `{"purpose":-}`, `{"purpose":"\u12"}`, `{"purpose":1.}`, `{"purpose":"a",}`, `[1 2]`, `{`, ``} {
		e := apperr.As(Decode([]byte(body), &v))
		if e == nil || e.Reason != "malformed_json" || e.Field != "body" {
			t.Errorf("Decode(%q) = %v; want malformed_json", body, e)
		}
	}
	var b breachIn
	if e := apperr.As(Decode([]byte(`{"detected_at":"2026-11-29T10:00:00\u002B01:00"}`), &b)); e == nil || e.Reason != "invalid_time" || e.Field != "detected_at" {
		t.Errorf("escaped time (time.Time reads no escapes): %v", e)
	}
}
