// Package jsonin decodes request bodies strictly, for the API and the public forms alike.
package jsonin

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// checkKeys walks the JSON document in data alongside the Go type t and refuses what
// encoding/json would let through silently: a key given twice in one object (the last would
// win) and a key that matches a field only when case is ignored ("EMAIL" for "email").
// Unknown keys are left to DisallowUnknownFields.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walk(dec, t, "")
}

func walk(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		fields := jsonFields(t)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key := kt.(string)
			name := join(path, key)
			if !plainKey(key) {
				// A key that is not a plain name may be personal data (an address pasted as a
				// key): errors never echo it, they name the object it is in.
				name = join(path, "(key)")
				if t != nil && t.Kind() == reflect.Struct {
					field := path
					if field == "" {
						field = "body"
					}
					return apperr.Invalidf(field, "unknown_field", "%s: an unknown key", field)
				}
			}
			if seen[key] {
				return apperr.Invalidf(name, "duplicate_key", "%s: given twice", name)
			}
			seen[key] = true
			var child reflect.Type
			switch {
			case t != nil && t.Kind() == reflect.Struct:
				f, ok := fields[key]
				if !ok {
					for k := range fields {
						if strings.EqualFold(k, key) {
							return apperr.Invalidf(name, "unknown_field", "%s: unknown field (did you mean %s?)", name, join(path, k))
						}
					}
					if !opaque(t) {
						return apperr.Invalidf(name, "unknown_field", "%s: unknown field", name)
					}
				}
				child = f
			case t != nil && t.Kind() == reflect.Map:
				child = t.Elem()
			}
			if err := walk(dec, child, name); err != nil {
				return err
			}
		}
		_, err := dec.Token() // '}'
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walk(dec, elem, path+"[]"); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return checkScalar(tok, t, path)
}

var timeType = reflect.TypeFor[time.Time]()

// checkScalar names the field of a scalar that encoding/json would refuse without saying where:
// a date-time that is not RFC 3339 (time.Time reports only its parse error), and a fraction
// for a whole number.
func checkScalar(tok json.Token, t reflect.Type, path string) error {
	if t == nil || tok == nil {
		return nil
	}
	field := path
	if field == "" {
		field = "body"
	}
	switch {
	case t == timeType:
		if s, ok := tok.(string); ok {
			if _, err := time.Parse(time.RFC3339, s); err == nil {
				return nil
			}
		}
		return apperr.Invalidf(field, "invalid_time", "%s: a date-time in RFC 3339 with a zone, for example 2026-11-29T10:00:00Z", field)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if n, ok := tok.(json.Number); ok {
			if _, err := n.Int64(); err != nil {
				return apperr.Invalidf(field, "wrong_type", "%s: must be a whole number", field)
			}
		}
	}
	return nil
}

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

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Decode reads one JSON object from body (already read and checked for UTF-8) into v strictly: a
// key given twice, a key in the wrong case, an unknown field, trailing data and a wrong type are
// Invalid errors (internal/apperr) that name the field by its dotted path ("audience.kind").
func Decode(body []byte, v any) error {
	if err := checkKeys(body, reflect.TypeOf(v)); err != nil {
		if apperr.As(err) != nil {
			return err
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
	if dec.More() {
		return apperr.Invalidf("body", "malformed_json", "body: one JSON object expected")
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
func plainKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
