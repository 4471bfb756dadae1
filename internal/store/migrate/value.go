package migrate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// convert turns one value read from SQLite into the value written to a PostgreSQL column.
type convert func(v any) (any, error)

// errText is a text value PostgreSQL cannot store; the caller names the table, key and column.
var errText = errors.New("holds text PostgreSQL cannot store (a NUL byte or invalid UTF-8)")

// converter returns the conversion of SQLite values into a destination column of type pgType
// (information_schema.columns.data_type), or an error naming what is not supported. NULL
// stays NULL in every type (PostgreSQL checks NOT NULL).
func converter(pgType string) (convert, error) {
	switch pgType {
	case "bigint":
		return integer(math.MinInt64, math.MaxInt64, func(i int64) any { return i }), nil
	case "integer":
		return integer(math.MinInt32, math.MaxInt32, func(i int64) any { return int32(i) }), nil
	case "smallint":
		return integer(math.MinInt16, math.MaxInt16, func(i int64) any { return int16(i) }), nil
	case "boolean":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case nil:
				return nil, nil
			case int64:
				if x == 0 || x == 1 {
					return x == 1, nil
				}
			}
			return nil, fmt.Errorf("holds %s, not 0 or 1, for a boolean", kind(v))
		}, nil
	case "text", "character varying", "character":
		return func(v any) (any, error) {
			var s string
			switch x := v.(type) {
			case nil:
				return nil, nil
			case string:
				s = x
			case []byte:
				s = string(x)
			default:
				return nil, fmt.Errorf("holds %s for text", kind(v))
			}
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				return nil, errText
			}
			return s, nil
		}, nil
	case "bytea":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case nil:
				return nil, nil
			case []byte:
				if x == nil {
					return []byte{}, nil // an empty BLOB is not NULL
				}
				return x, nil
			case string:
				return []byte(x), nil
			}
			return nil, fmt.Errorf("holds %s for bytes", kind(v))
		}, nil
	case "double precision", "real":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case nil:
				return nil, nil
			case float64:
				return x, nil
			case int64:
				return float64(x), nil
			}
			return nil, fmt.Errorf("holds %s for a number", kind(v))
		}, nil
	}
	return nil, fmt.Errorf("its PostgreSQL type %s is not one migrate-store fills (bigint, integer, smallint, boolean, text, bytea, double precision)", pgType)
}

// integer converts SQLite integers into an integer type of range [lo, hi].
func integer(lo, hi int64, to func(int64) any) convert {
	return func(v any) (any, error) {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case int64:
			if x < lo || x > hi {
				return nil, fmt.Errorf("holds an integer out of the column's range")
			}
			return to(x), nil
		}
		return nil, fmt.Errorf("holds %s for an integer", kind(v))
	}
}

// kind names the SQLite storage class of v, for messages (never its value).
func kind(v any) string {
	switch v.(type) {
	case int64:
		return "an integer"
	case float64:
		return "a real number"
	case string:
		return "text"
	case []byte:
		return "bytes"
	}
	return fmt.Sprintf("a %T", v)
}

// encodeKey writes a row's key (the values of its primary key, or its rowid) as the JSON array
// kept in migrate_progress.last_key: each value tagged with its type, so that it reads back
// exactly ("i:42", "t:text", "b:" and base64).
func encodeKey(vals []any) (string, error) {
	out := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case int64:
			out[i] = "i:" + strconv.FormatInt(x, 10)
		case string:
			out[i] = "t:" + x
		case []byte:
			out[i] = "b:" + base64.StdEncoding.EncodeToString(x)
		case float64:
			out[i] = "f:" + strconv.FormatFloat(x, 'g', -1, 64)
		default:
			return "", fmt.Errorf("a key value of type %s (NULL keys cannot be resumed from)", kind(v))
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// decodeKey reads what encodeKey wrote.
func decodeKey(s string) ([]any, error) {
	var in []string
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("migrate_progress.last_key: %w", err)
	}
	out := make([]any, len(in))
	for i, v := range in {
		tag, rest, ok := strings.Cut(v, ":")
		var err error
		switch {
		case !ok:
			err = errors.New("untagged")
		case tag == "i":
			out[i], err = strconv.ParseInt(rest, 10, 64)
		case tag == "t":
			out[i] = rest
		case tag == "b":
			out[i], err = base64.StdEncoding.DecodeString(rest)
		case tag == "f":
			out[i], err = strconv.ParseFloat(rest, 64)
		default:
			err = fmt.Errorf("tag %q", tag)
		}
		if err != nil {
			return nil, fmt.Errorf("migrate_progress.last_key %q: %v", s, err)
		}
	}
	return out, nil
}

// describeKey renders a row's key for a message: ids and numbers as they are, bytes (keyed
// hashes) in hex. Keys are ids and hashes, never a personal field in the clear.
func describeKey(names []string, vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		var s string
		switch x := v.(type) {
		case []byte:
			s = "x'" + hex.EncodeToString(x) + "'"
		case string:
			s = strconv.Quote(x)
		default:
			s = fmt.Sprint(x)
		}
		parts[i] = names[i] + "=" + s
	}
	return strings.Join(parts, ", ")
}

// digest is an order-independent digest of a table's rows: the sum, lane by lane (four
// 64-bit lanes, wrapping), of each row's SHA-256 over a canonical encoding of its values. Equal
// multisets of rows give equal digests whatever order they are read in, so neither side needs
// to sort.
type digest struct {
	lanes [4]uint64
	rows  int64
	buf   []byte
}

// add adds one row, its values as written to (or read from) PostgreSQL.
func (d *digest) add(vals []any) error {
	b := d.buf[:0]
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			b = append(b, 0)
		case int64:
			b = binary.BigEndian.AppendUint64(append(b, 1), uint64(x))
		case int32:
			b = binary.BigEndian.AppendUint64(append(b, 1), uint64(int64(x)))
		case int16:
			b = binary.BigEndian.AppendUint64(append(b, 1), uint64(int64(x)))
		case string:
			b = append(binary.AppendUvarint(append(b, 2), uint64(len(x))), x...)
		case []byte:
			b = append(binary.AppendUvarint(append(b, 3), uint64(len(x))), x...)
		case bool:
			if x {
				b = append(b, 4, 1)
			} else {
				b = append(b, 4, 0)
			}
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, 5), math.Float64bits(x))
		case float32:
			b = binary.BigEndian.AppendUint64(append(b, 5), math.Float64bits(float64(x)))
		default:
			return fmt.Errorf("a value of type %T", v)
		}
	}
	d.buf = b
	sum := sha256.Sum256(b)
	for i := range d.lanes {
		d.lanes[i] += binary.BigEndian.Uint64(sum[8*i:])
	}
	d.rows++
	return nil
}
