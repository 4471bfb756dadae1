// Package jsonin decodes request bodies strictly, for the API and the public forms alike.
package jsonin

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
)

// MaxDepth is how deeply arrays and objects may nest in a body: the top-level object is depth 1,
// an object or array inside it depth 2, and so on. No body Tillit reads nests deeper than 4; the
// limit only refuses documents built to exhaust the server (a 64 KiB run of "[" once cost 4 GB).
const MaxDepth = 32

// checkKeys walks the first JSON value in data alongside the Go type t and refuses what
// encoding/json would let through silently: a key given twice in one object (the last would
// win) and a key that matches a field only when case is ignored ("EMAIL" for "email"). It also
// refuses nesting deeper than MaxDepth (Reason "too_deep", naming the path where it happened),
// and names the field of a bad date-time or a fraction for a whole number. Unknown keys are left
// to DisallowUnknownFields. Malformed JSON is a *syntaxError.
//
// Memory is linear in len(data) whatever its shape, and small (at most about 3×len(data), for an
// object with very many keys; nothing for most bodies): the walk reads data in place (scanner),
// keeps the path of the current value as a stack of segments joined into a string only for an
// error, and keeps the keys of each open object in a per-depth buffer that sibling objects
// reuse. Scalars are not copied unless their field needs a check.
func checkKeys(data []byte, t reflect.Type) error {
	w := walker{sc: scanner{data: data}, fields: map[reflect.Type]map[string]reflect.Type{}, seed: maphash.MakeSeed()}
	return w.walk(t)
}

// walker holds the state of one checkKeys pass.
type walker struct {
	sc     scanner
	segs   [][]byte // the path of the current value: keys ("(key)" for one not plainKey) and "[]"
	fields map[reflect.Type]map[string]reflect.Type
	seen   []seenKeys // by depth: the keys of the object open at that depth
	depth  int        // arrays and objects open around the next value
	seed   maphash.Seed
}

var (
	segArray = []byte("[]")
	segKey   = []byte("(key)")
)

// seenKeys finds a key given twice in one object: a linear scan of the first few keys; after
// that a set of 32-bit hashes of them (not a copy of each key), where a hit is confirmed by
// reading the object again from its start (a collision of random-seeded hashes is rare and costs
// one read of the object, never a false error).
type seenKeys struct {
	start  int // offset of the object's '{'
	list   [][]byte
	hashes map[uint32]struct{}
	buf    []byte // unescaped keys
}

// smallObject is how many keys seenKeys scans before it hashes.
const smallObject = 16

func (s *seenKeys) reset(start int) {
	clear(s.list)
	s.start, s.list, s.hashes, s.buf = start, s.list[:0], nil, s.buf[:0]
}

// add records key, the object's member that ends before offset end, and reports whether the
// object had it already.
func (w *walker) add(s *seenKeys, key []byte, end int) (dup bool) {
	if s.hashes == nil {
		for _, k := range s.list {
			if bytes.Equal(k, key) {
				return true
			}
		}
		s.list = append(s.list, key)
		if len(s.list) <= smallObject {
			return false
		}
		s.hashes = make(map[uint32]struct{}, 4*smallObject)
		for _, k := range s.list {
			s.hashes[uint32(maphash.Bytes(w.seed, k))] = struct{}{}
		}
		clear(s.list)
		s.list = s.list[:0]
		return false
	}
	h := uint32(maphash.Bytes(w.seed, key))
	if _, hit := s.hashes[h]; !hit {
		s.hashes[h] = struct{}{}
		return false
	}
	return hasKey(w.sc.data[s.start:end], key)
}

// hasKey reports whether the object that starts obj (valid JSON, possibly cut short after some
// member's key) has a member named key.
func hasKey(obj []byte, key []byte) bool {
	sc := scanner{data: obj, pos: 1}
	for {
		c, err := sc.next()
		if err != nil || c != '"' {
			return false
		}
		k, escaped, err := sc.str()
		if err != nil {
			return false
		}
		if escaped {
			k = unescape(nil, k)
		}
		if bytes.Equal(k, key) {
			return true
		}
		if sc.colon() != nil || sc.skip() != nil {
			return false
		}
		if more, err := sc.more('}'); !more || err != nil {
			return false
		}
	}
}

// joinPath joins path segments: keys with ".", "[]" attached ("audience.tags[]").
func joinPath(segs [][]byte) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 && !bytes.Equal(s, segArray) {
			b.WriteByte('.')
		}
		b.Write(s)
	}
	return b.String()
}

// field names the current value by its path, "body" at the top.
func (w *walker) field() string {
	if len(w.segs) == 0 {
		return "body"
	}
	return joinPath(w.segs)
}

func (w *walker) jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	f, ok := w.fields[t]
	if !ok {
		f = jsonFields(t)
		w.fields[t] = f
	}
	return f
}

// walk checks the next value, which has Go type t (nil: not known, for example inside an
// interface, or a value of the wrong type that encoding/json will refuse).
func (w *walker) walk(t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	c, err := w.sc.next()
	if err != nil {
		return err
	}
	switch c {
	case '{', '[':
		if w.depth >= MaxDepth {
			f := w.field()
			return apperr.Invalidf(f, "too_deep", "%s: arrays and objects nested deeper than %d levels", f, MaxDepth)
		}
		w.depth++
		defer func() { w.depth-- }()
		if c == '[' {
			return w.array(t)
		}
		return w.object(t)
	case '"':
		raw, escaped, err := w.sc.str()
		if err != nil {
			return err
		}
		if t == timeType {
			// time.Time reads the bytes between the quotes as they are, so an escape in a
			// date-time is as wrong as any other character that is not RFC 3339.
			if _, err := time.Parse(time.RFC3339, string(raw)); err != nil || escaped {
				return badTime(w.field())
			}
		}
		return nil
	case 'n':
		return w.sc.literal("null")
	case 't':
		if err := w.sc.literal("true"); err != nil {
			return err
		}
	case 'f':
		if err := w.sc.literal("false"); err != nil {
			return err
		}
	default:
		n, err := w.sc.number()
		if err != nil {
			return err
		}
		if t != nil && t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && t != timeType {
			if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
				f := w.field()
				return apperr.Invalidf(f, "wrong_type", "%s: must be a whole number", f)
			}
		}
		if t == timeType {
			return badTime(w.field())
		}
		return nil
	}
	if t == timeType {
		return badTime(w.field())
	}
	return nil
}

// badTime names a field of type time.Time whose value is not an RFC 3339 date-time (time.Time
// reports only its parse error, without the field).
func badTime(field string) error {
	return apperr.Invalidf(field, "invalid_time", "%s: a date-time in RFC 3339 with a zone, for example 2026-11-29T10:00:00Z", field)
}

func (w *walker) array(t reflect.Type) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	w.segs = append(w.segs, segArray)
	if ok, err := w.sc.end(']'); ok || err != nil {
		w.segs = w.segs[:len(w.segs)-1]
		return err
	}
	for {
		if err := w.walk(elem); err != nil {
			return err
		}
		more, err := w.sc.more(']')
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	w.segs = w.segs[:len(w.segs)-1]
	return nil
}

func (w *walker) object(t reflect.Type) error {
	for len(w.seen) < w.depth {
		w.seen = append(w.seen, seenKeys{})
	}
	seen := &w.seen[w.depth-1]
	seen.reset(w.sc.pos)
	defer seen.reset(0) // let go of the keys
	fields := w.jsonFields(t)
	isStruct := t != nil && t.Kind() == reflect.Struct
	if ok, err := w.sc.end('}'); ok || err != nil {
		return err
	}
	for {
		c, err := w.sc.next()
		if err != nil {
			return err
		}
		if c != '"' {
			return w.sc.fail()
		}
		keyStart := w.sc.pos
		key, escaped, err := w.sc.str()
		if err != nil {
			return err
		}
		if escaped {
			// Unescaped into the object's buffer: kept while the key is in the list, reused
			// once keys are hashed.
			if seen.hashes != nil {
				seen.buf = seen.buf[:0]
			}
			n := len(seen.buf)
			seen.buf = unescape(seen.buf, key)
			key = seen.buf[n:len(seen.buf):len(seen.buf)]
		}
		if err := w.sc.colon(); err != nil {
			return err
		}
		seg := key
		if !plainKey(key) {
			// A key that is not a plain name may be personal data (an address pasted as a
			// key): errors never echo it, they name the object it is in.
			seg = segKey
			if isStruct {
				f := w.field()
				return apperr.Invalidf(f, "unknown_field", "%s: an unknown key", f)
			}
		}
		w.segs = append(w.segs, seg)
		if w.add(seen, key, keyStart) {
			name := joinPath(w.segs)
			return apperr.Invalidf(name, "duplicate_key", "%s: given twice", name)
		}
		var child reflect.Type
		switch {
		case isStruct:
			f, ok := fields[string(key)]
			if !ok {
				for k := range fields {
					if bytes.EqualFold([]byte(k), key) {
						name := joinPath(w.segs)
						parent := w.segs[: len(w.segs)-1 : len(w.segs)-1]
						return apperr.Invalidf(name, "unknown_field", "%s: unknown field (did you mean %s?)", name, joinPath(append(parent, []byte(k))))
					}
				}
				if !opaque(t) {
					name := joinPath(w.segs)
					return apperr.Invalidf(name, "unknown_field", "%s: unknown field", name)
				}
			}
			child = f
		case t != nil && t.Kind() == reflect.Map:
			child = t.Elem()
		}
		if err := w.walk(child); err != nil {
			return err
		}
		w.segs = w.segs[:len(w.segs)-1]
		more, err := w.sc.more('}')
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// opaque reports whether a struct's JSON members are not all its own tagged fields (it decodes
// itself, or embeds another struct): unknown keys are then left to DisallowUnknownFields.
func opaque(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(unmarshaler) || t.Implements(unmarshaler) {
		return true
	}
	for i := range t.NumField() {
		if t.Field(i).Anonymous {
			return true
		}
	}
	return false
}

// jsonFields maps a struct type's JSON member names to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	if t == nil || t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			if tag == "-" {
				continue
			}
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		out[name] = f.Type
	}
	return out
}

// Decode reads one JSON object from body (UTF-8; Reason "invalid_utf8" otherwise) into v strictly: a
// key given twice, a key in the wrong case, an unknown field, trailing data and a wrong type are
// Invalid errors (internal/apperr) that name the field by its dotted path ("audience.kind"), and
// so is nesting deeper than MaxDepth (Reason "too_deep"). Memory is linear in len(body) for any
// shape of body, plus what v itself needs (see checkKeys).
func Decode(body []byte, v any) error {
	if !utf8.Valid(body) {
		// Callers check this first with their own answer; this keeps keys that differ only in
		// bytes encoding/json reads as U+FFFD from passing the duplicate check (found by
		// FuzzDecode).
		return apperr.Invalidf("body", "invalid_utf8", "body: not valid UTF-8")
	}
	if err := checkKeys(body, reflect.TypeOf(v)); err != nil {
		if apperr.As(err) != nil {
			return err
		}
		if se := (*syntaxError)(nil); errors.As(err, &se) {
			return apperr.Invalidf("body", "malformed_json", "body: malformed JSON at byte %d", se.Offset)
		}
		return apperr.Invalidf("body", "malformed_json", "body: malformed JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case apperr.As(err) != nil:
			return apperr.As(err)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "body"
			}
			return apperr.Invalidf(field, "wrong_type", "%s: must be %s", field, jsonType(te.Type.Kind().String()))
		case errors.As(err, &se):
			return apperr.Invalidf("body", "malformed_json", "body: malformed JSON at byte %d", se.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return apperr.Invalidf(f, "unknown_field", "%s: unknown field", f)
		default:
			return apperr.Invalidf("body", "malformed_json", "body: not a JSON object")
		}
	}
	// Only white space may follow the value. (dec.More reports false for a "}" or "]" after it,
	// so "{…}]" passed for one object: found by FuzzDecode.)
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return apperr.Invalidf("body", "malformed_json", "body: one JSON object expected")
	}
	// U+0000 is no character of any field, and PostgreSQL's text cannot hold it (it answered 500).
	if f := nulField(reflect.ValueOf(v), ""); f != "" {
		return apperr.Invalidf(f, "control_character", "%s: must not contain U+0000", f)
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return "of another type"
}

// plainKey reports whether key looks like a field name (letters, digits, _ and -, at most 64),
// so that an error may name it.
func plainKey(key []byte) bool {
	if len(key) == 0 || len(key) > 64 {
		return false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// nulField returns the dotted path of the first string in v holding U+0000 ("" when none),
// naming struct fields by their JSON names.
func nulField(v reflect.Value, path string) string {
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nulField(v.Elem(), path)
		}
	case reflect.String:
		if strings.ContainsRune(v.String(), 0) {
			return cmp.Or(path, "body")
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == "-" {
				continue
			} else if tag != "" {
				name = tag
			}
			if f.Anonymous {
				if p := nulField(v.Field(i), path); p != "" {
					return p
				}
				continue
			}
			if p := nulField(v.Field(i), join(name)); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "" // bytes, not text
		}
		for i := range v.Len() {
			if p := nulField(v.Index(i), path); p != "" {
				return p
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := fmt.Sprint(it.Key().Interface())
			if strings.ContainsRune(k, 0) {
				return cmp.Or(path, "body")
			}
			if p := nulField(it.Value(), join(k)); p != "" {
				return p
			}
		}
	}
	return ""
}
