package migrate

import (
	"errors"
	"reflect"
	"testing"
)

func TestConverter(t *testing.T) {
	for _, c := range []struct {
		pgType string
		in     any
		want   any
		err    bool
	}{
		{"bigint", int64(-1 << 62), int64(-1 << 62), false},
		{"bigint", nil, nil, false},
		{"bigint", "12", nil, true},
		{"integer", int64(1 << 31), nil, true},
		{"integer", int64(-7), int32(-7), false},
		{"smallint", int64(40000), nil, true},
		{"boolean", int64(1), true, false},
		{"boolean", int64(0), false, false},
		{"boolean", int64(2), nil, true},
		{"text", "Åsa", "Åsa", false},
		{"text", []byte("Åsa"), "Åsa", false},
		{"text", "a\x00b", nil, true},
		{"text", "a\xffb", nil, true},
		{"text", int64(3), nil, true},
		{"bytea", []byte{0, 0xff}, []byte{0, 0xff}, false},
		{"bytea", []byte(nil), []byte{}, false}, // an empty BLOB stays empty, not NULL
		{"bytea", nil, nil, false},
		{"bytea", int64(1), nil, true},
		{"double precision", int64(2), float64(2), false},
	} {
		conv, err := converter(c.pgType)
		if err != nil {
			t.Fatalf("converter(%s): %v", c.pgType, err)
		}
		got, err := conv(c.in)
		if (err != nil) != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s(%#v) = %#v, %v; want %#v, error %v", c.pgType, c.in, got, err, c.want, c.err)
		}
	}
	if _, err := converter("jsonb"); err == nil {
		t.Error("converter(jsonb): want an error naming the type")
	}
	conv, _ := converter("text")
	if _, err := conv("a\x00b"); !errors.Is(err, errText) {
		t.Errorf("NUL in text: %v; want errText", err)
	}
}

// TestKeyRoundTrip: a key written to migrate_progress reads back as the same values, types
// included, so that a resumed copy starts exactly after the last row copied.
func TestKeyRoundTrip(t *testing.T) {
	for _, k := range [][]any{
		{int64(42)},
		{int64(-1 << 63)},
		{"0190a7c4-0000-7000-8000-000000000001", "newsletter"},
		{"t:with:colons", ""},
		{[]byte{0, 1, 0xfe, 0xff}},
		{[]byte{}},
	} {
		s, err := encodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeKey(s)
		if err != nil || !reflect.DeepEqual(got, k) {
			t.Errorf("decodeKey(encodeKey(%#v)) = %#v, %v (via %s)", k, got, err, s)
		}
	}
	if _, err := encodeKey([]any{nil}); err == nil {
		t.Error("encodeKey(NULL): want an error")
	}
	for _, bad := range []string{"", "[1]", `["x"]`, `["z:1"]`, `["i:one"]`} {
		if _, err := decodeKey(bad); err == nil {
			t.Errorf("decodeKey(%q): want an error", bad)
		}
	}
}

// TestDigest: the digest depends on the rows and not their order; any change of a value, of a
// type (NULL against empty, text against bytes) or of the number of rows changes it.
func TestDigest(t *testing.T) {
	rows := [][]any{
		{int64(1), "a", []byte("x"), nil},
		{int64(2), "b", []byte{}, true},
		{int64(3), "", []byte("z"), float64(0.5)},
	}
	sum := func(rs ...[]any) digest {
		var d digest
		for _, r := range rs {
			if err := d.add(r); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	base := sum(rows...)
	if got := sum(rows[2], rows[0], rows[1]); got.lanes != base.lanes || got.rows != 3 {
		t.Errorf("reordered rows: digest differs")
	}
	for name, other := range map[string]digest{
		"a value":      sum(rows[0], rows[1], []any{int64(3), "", []byte("y"), float64(0.5)}),
		"NULL for ''":  sum(rows[0], rows[1], []any{int64(3), nil, []byte("z"), float64(0.5)}),
		"text/bytes":   sum(rows[0], rows[1], []any{int64(3), "", "z", float64(0.5)}),
		"a row less":   sum(rows[0], rows[1]),
		"a row twice":  sum(rows[0], rows[1], rows[2], rows[2]),
		"split values": sum(rows[0], rows[1], []any{int64(3), "z", []byte(""), float64(0.5)}),
	} {
		if other.lanes == base.lanes {
			t.Errorf("%s: digest unchanged", name)
		}
	}
}
