package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

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
	return nil
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

// readBody reads a request body of at most maxBody bytes.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, apperr.Invalidf("body", "unreadable", "body: could not be read")
	}
	if len(b) > maxBody {
		return nil, &statusError{status: 413, err: apperr.Invalidf("body", "too_large", "body: larger than 1 MiB")}
	}
	return b, nil
}

// statusError is an error answered with a more precise status than its kind gives (405, 413, 415).
type statusError struct {
	status int
	err    *apperr.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func statusOverride(err error) int {
	var me *statusError
	if errors.As(err, &me) {
		return me.status
	}
	return 0
}
