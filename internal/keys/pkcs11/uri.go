package pkcs11

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// URI is a parsed pkcs11: URI (RFC 7512) that names Tillit's root key: the module to load, the
// token that holds the key, the key's label, and the user PIN. String prints it with the PIN
// hidden, and so does every error of this package.
type URI struct {
	// ModulePath is the PKCS#11 module to load (query attribute module-path, RFC 7512 §2.3),
	// for example /usr/lib/softhsm/libsofthsm2.so. Required.
	ModulePath string
	// Token, Manufacturer, Model and Serial select the token by its CK_TOKEN_INFO fields
	// (path attributes token, manufacturer, model, serial); empty matches any.
	Token, Manufacturer, Model, Serial string
	// SlotID selects the slot (path attribute slot-id, RFC 7512 §2.3, a decimal CK_SLOT_ID)
	// when HasSlotID is set.
	SlotID    uint
	HasSlotID bool
	// Object is the key's CKA_LABEL (path attribute object). Required: Tillit finds the key by
	// it and creates it under it.
	Object string
	// ID is the key's CKA_ID (path attribute id, percent-encoded bytes); empty matches any, and a
	// key created with it set carries it.
	ID []byte

	// pin is the user PIN: pin-value, or the content of the file pin-source names (read by
	// ParseURI, trailing line end removed).
	pin string
	// pinFrom says where the PIN came from, for String: "pin-value" or the pin-source.
	pinFrom, pinSource string
}

// pathAttrs and queryAttrs are the attributes ParseURI accepts; every other one of RFC 7512
// (library-*, slot-description, slot-manufacturer, module-name) is refused by name, and
// vendor attributes (x-…) are ignored, as RFC 7512 §2.3 allows.
var (
	pathAttrs  = []string{"token", "manufacturer", "model", "serial", "slot-id", "object", "id", "type"}
	queryAttrs = []string{"module-path", "pin-value", "pin-source"}
	refused    = map[string]string{
		"library-manufacturer": "select the token by token, serial or slot-id",
		"library-description":  "select the token by token, serial or slot-id",
		"library-version":      "select the token by token, serial or slot-id",
		"slot-description":     "select the slot by slot-id",
		"slot-manufacturer":    "select the slot by slot-id",
		"module-name":          "give the module's file with module-path",
	}
)

// ParseURI parses a pkcs11: URI (RFC 7512):
//
//	pkcs11:token=Tillit;object=tillit-root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/tillit/pin
//
// Path attributes (separated by ";"): token, manufacturer, model, serial, slot-id, object, id,
// type (secret-key only). Query attributes (separated by "&"): module-path, and the user PIN as
// pin-value or pin-source (a file: URI or an absolute path; the file must not be readable by
// group or others). Values are percent-decoded. object and module-path are required, and
// exactly one of pin-value and pin-source. An unknown, repeated, empty or malformed attribute is
// an error that names it (never the PIN).
func ParseURI(raw string) (URI, error) {
	var u URI
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || !strings.EqualFold(scheme, "pkcs11") {
		return u, errors.New("pkcs11: URI: want one that starts with pkcs11: (RFC 7512)")
	}
	path, query, _ := strings.Cut(rest, "?")
	seen := map[string]bool{}
	attrs := func(part, sep string, known []string) (map[string]string, error) {
		out := map[string]string{}
		if part == "" {
			return out, nil
		}
		for i, kv := range strings.Split(part, sep) {
			name, val, ok := strings.Cut(kv, "=")
			name = strings.ToLower(name)
			switch {
			case !ok || name == "":
				// Never the text itself: it may be a misplaced PIN.
				return nil, fmt.Errorf("pkcs11: URI: attribute %d of the %s is not a name=value pair", i+1, where(sep))
			case strings.HasPrefix(name, "x-"):
				continue
			case refused[name] != "":
				return nil, fmt.Errorf("pkcs11: URI: attribute %s is not supported (%s)", name, refused[name])
			case !slices.Contains(known, name):
				if slices.Contains(pathAttrs, name) || slices.Contains(queryAttrs, name) {
					return nil, fmt.Errorf("pkcs11: URI: attribute %s belongs in the %s", name, where(other(sep)))
				}
				return nil, fmt.Errorf("pkcs11: URI: unknown attribute %s", name)
			case seen[name]:
				return nil, fmt.Errorf("pkcs11: URI: attribute %s appears twice", name)
			}
			seen[name] = true
			dec, err := url.PathUnescape(val)
			if err != nil {
				return nil, fmt.Errorf("pkcs11: URI: attribute %s: malformed percent-encoding", name)
			}
			if dec == "" {
				return nil, fmt.Errorf("pkcs11: URI: attribute %s is empty", name)
			}
			out[name] = dec
		}
		return out, nil
	}
	p, err := attrs(path, ";", pathAttrs)
	if err != nil {
		return u, err
	}
	q, err := attrs(query, "&", queryAttrs)
	if err != nil {
		return u, err
	}
	u.Token, u.Manufacturer, u.Model, u.Serial = p["token"], p["manufacturer"], p["model"], p["serial"]
	u.Object, u.ModulePath = p["object"], q["module-path"]
	if v, ok := p["slot-id"]; ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return u, fmt.Errorf("pkcs11: URI: attribute slot-id: want a decimal number")
		}
		u.SlotID, u.HasSlotID = uint(n), true
	}
	if v, ok := p["id"]; ok {
		u.ID = []byte(v)
	}
	if v, ok := p["type"]; ok && v != "secret-key" {
		return u, fmt.Errorf("pkcs11: URI: attribute type is %q; the root key is a secret-key", v)
	}
	if u.Object == "" {
		return u, errors.New("pkcs11: URI: attribute object (the label of the root key in the token) is missing")
	}
	if u.ModulePath == "" {
		return u, errors.New("pkcs11: URI: attribute module-path (the PKCS#11 module, such as ?module-path=/usr/lib/softhsm/libsofthsm2.so) is missing")
	}
	pinValue, hasValue := q["pin-value"]
	pinSource, hasSource := q["pin-source"]
	switch {
	case hasValue && hasSource:
		return u, errors.New("pkcs11: URI: give pin-value or pin-source, not both")
	case hasValue:
		u.pin, u.pinFrom = pinValue, "pin-value"
	case hasSource:
		pin, err := readPIN(pinSource)
		if err != nil {
			return u, err
		}
		u.pin, u.pinFrom, u.pinSource = pin, "pin-source", pinSource
	default:
		return u, errors.New("pkcs11: URI: the user PIN is missing: add pin-source=file:/path/to/pin (or pin-value=…)")
	}
	return u, nil
}

// readPIN reads the PIN from pin-source: a file: URI or an absolute path.
func readPIN(source string) (string, error) {
	path := source
	if strings.HasPrefix(source, "file:") {
		f, err := url.Parse(source)
		if err != nil || (f.Host != "" && f.Host != "localhost") || f.Path == "" {
			return "", errors.New("pkcs11: URI: attribute pin-source: want a file: URI of a local file or an absolute path")
		}
		path = f.Path
	}
	if !strings.HasPrefix(path, "/") {
		return "", errors.New("pkcs11: URI: attribute pin-source: want a file: URI or an absolute path")
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("pkcs11: URI: attribute pin-source: %s does not exist", path)
		}
		return "", fmt.Errorf("pkcs11: URI: attribute pin-source: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("pkcs11: URI: attribute pin-source: %s has mode %v; want 0600 or 0400", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("pkcs11: URI: attribute pin-source: %w", err)
	}
	pin := strings.TrimRight(string(b), "\r\n")
	if pin == "" {
		return "", fmt.Errorf("pkcs11: URI: attribute pin-source: %s is empty", path)
	}
	return pin, nil
}

// String is the URI with the PIN hidden: pin-value=xxxxx, or pin-source as given.
func (u URI) String() string {
	var path []string
	add := func(name, v string) {
		if v != "" {
			path = append(path, name+"="+escape(v))
		}
	}
	add("token", u.Token)
	add("manufacturer", u.Manufacturer)
	add("model", u.Model)
	add("serial", u.Serial)
	if u.HasSlotID {
		add("slot-id", strconv.FormatUint(uint64(u.SlotID), 10))
	}
	add("object", u.Object)
	add("id", string(u.ID))
	q := "module-path=" + escape(u.ModulePath)
	switch u.pinFrom {
	case "pin-value":
		q += "&pin-value=xxxxx"
	case "pin-source":
		q += "&pin-source=" + escape(u.pinSource)
	}
	return "pkcs11:" + strings.Join(path, ";") + "?" + q
}

// GoString is String, so that %#v hides the PIN too.
func (u URI) GoString() string { return u.String() }

// Redact is raw with the value of every pin-value attribute (in the query, or misplaced in the
// path) replaced by xxxxx, for printing a setting that may not parse.
func Redact(raw string) string {
	var b strings.Builder
	for len(raw) > 0 {
		n := strings.IndexAny(raw, ";?&")
		part, sep := raw, ""
		if n >= 0 {
			part, sep, raw = raw[:n], raw[n:n+1], raw[n+1:]
		} else {
			raw = ""
		}
		if name, _, ok := strings.Cut(part, "="); ok && strings.EqualFold(name[strings.LastIndex(name, ":")+1:], "pin-value") {
			part = name + "=xxxxx"
		}
		b.WriteString(part + sep)
	}
	return b.String()
}

// escape percent-encodes v for a pkcs11: URI value (RFC 7512 pk11-pchar: unreserved characters
// and ":[]@!$'()*+,=&" stay; so does "/" in paths).
func escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:[]@!$'()*+,/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func where(sep string) string {
	if sep == ";" {
		return "path (before ?, separated by ;)"
	}
	return "query (after ?, separated by &)"
}

func other(sep string) string {
	if sep == ";" {
		return "&"
	}
	return ";"
}
