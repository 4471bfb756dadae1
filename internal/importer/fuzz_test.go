package importer

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
)

// FuzzReader reads any bytes with any dialect and checks what the Reader promises: no record
// (header included) has more than MaxColumns cells; line numbers start at 1, grow, and stay
// within the file; cells hold no \r and, in a UTF-8 file, only UTF-8; a refused row says why
// with a code; a fatal error is an Invalid error naming the file and stays; the reading ends;
// and it allocates at most a fixed 512 KiB (buffers) plus 16 bytes per input byte.
func FuzzReader(f *testing.F) {
	for _, tc := range readerCases {
		f.Add([]byte(tc.in), byte(tc.dialect.Delimiter), tc.dialect.Encoding)
	}
	for _, s := range []string{
		"a,b\n1,2\n3,\"SECRET\n", "email\n\"a\"b\",c\n", "\xFF\xFEe\x00m\x00", "Email,Name\nx@example.com,M\xFCller\n",
		strings.Repeat(",", MaxColumns) + "\n", "e\r\n\"x\ry\"\r\r\n", "\n\n\na;b\n;;;\n", "x@example.com\n",
	} {
		f.Add([]byte(s), byte(0), "")
	}
	f.Fuzz(func(t *testing.T, in []byte, delim byte, enc string) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		lines := 1 + bytes.Count(in, []byte("\n")) + bytes.Count(in, []byte("\r"))
		r, err := NewReader(bytes.NewReader(in), Dialect{Delimiter: rune(delim), Encoding: enc})
		if err != nil {
			if e := apperr.As(err); e == nil || e.Kind != apperr.Invalid || e.Field == "" {
				t.Fatalf("NewReader: %#v; want an Invalid error naming the field", err)
			}
			return
		}
		if len(r.Header()) > MaxColumns || len(r.Header()) == 0 {
			t.Fatalf("header of %d cells", len(r.Header()))
		}
		utf := r.Dialect().Encoding == EncodingUTF8
		last := 0
		for n := 0; ; n++ {
			if n > lines+1 {
				t.Fatalf("more records than lines (%d)", lines)
			}
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var rerr *RowError
			if errors.As(err, &rerr) {
				if rerr.Line <= last || rerr.Line > lines || rerr.Code == "" || rerr.Reason == "" {
					t.Fatalf("row error %+v after line %d of %d", rerr, last, lines)
				}
				last = rerr.Line
				continue
			}
			if err != nil {
				e := apperr.As(err)
				if e == nil || e.Kind != apperr.Invalid || e.Field != "file" {
					t.Fatalf("Next: %#v; want an Invalid error naming the file", err)
				}
				if _, again := r.Next(); again != err {
					t.Fatalf("the stream went on after %v: %v", err, again)
				}
				break
			}
			if rec.Line <= last || rec.Line > lines {
				t.Fatalf("record at line %d after line %d of %d", rec.Line, last, lines)
			}
			last = rec.Line
			if len(rec.Fields) > MaxColumns {
				t.Fatalf("line %d: %d cells", rec.Line, len(rec.Fields))
			}
			for _, c := range rec.Fields {
				if strings.Contains(c, "\r") || utf && !utf8.ValidString(c) {
					t.Fatalf("line %d: cell %q", rec.Line, c)
				}
			}
		}
		runtime.ReadMemStats(&after)
		if n, limit := after.TotalAlloc-before.TotalAlloc, 512<<10+16*uint64(len(in)); n > limit {
			t.Fatalf("reading %d bytes allocated %d", len(in), n)
		}
	})
}
