package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/transform"

	"github.com/tillit/tillit/internal/apperr"
)

// readItem is one result of Reader.Next: a record, or a row error (Err is its Reason).
type readItem struct {
	Line    int
	Fields  []string
	Invalid []int
	Err     string
}

// readAll reads every record of r until io.EOF; it fails the test on any other error.
func readAll(t *testing.T, r *Reader) []readItem {
	t.Helper()
	var items []readItem
	for range 1000 {
		rec, err := r.Next()
		var re *RowError
		switch {
		case err == io.EOF:
			return items
		case errors.As(err, &re):
			items = append(items, readItem{Line: re.Line, Err: re.Reason})
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			items = append(items, readItem{Line: rec.Line, Fields: rec.Fields, Invalid: rec.Invalid})
		}
	}
	t.Fatal("Next never returned io.EOF")
	return nil
}

// chunkings feed the same bytes in different read sizes, so a \r\n split across reads, a BOM or
// a multi-byte character split across reads are all exercised.
var chunkings = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one-byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data-err", iotest.DataErrReader},
}

func rec(line int, fields ...string) readItem { return readItem{Line: line, Fields: fields} }
func rowErr(line int, reason string) readItem { return readItem{Line: line, Err: reason} }

// badRec is a record whose cells at the invalid indexes were not valid UTF-8 (blanked).
func badRec(line int, invalid []int, fields ...string) readItem {
	return readItem{Line: line, Fields: fields, Invalid: invalid}
}

// readerCase is one input of TestReader and what reading it gives; the inputs also seed FuzzReader.
type readerCase struct {
	name    string
	in      string
	dialect Dialect
	want    Dialect
	header  []string
	items   []readItem
}

func TestReader(t *testing.T) {
	for _, tt := range readerCases {
		for _, c := range chunkings {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				r, err := NewReader(c.wrap(strings.NewReader(tt.in)), tt.dialect)
				if err != nil {
					t.Fatalf("NewReader: %v", err)
				}
				if got := r.Dialect(); got != tt.want {
					t.Errorf("Dialect() = %q, want %q", got, tt.want)
				}
				if got := r.Header(); !reflect.DeepEqual(got, tt.header) {
					t.Errorf("Header() = %q, want %q", got, tt.header)
				}
				got := readAll(t, r)
				if !reflect.DeepEqual(got, tt.items) {
					t.Errorf("records:\n got %+v\nwant %+v", got, tt.items)
				}
				for _, it := range got {
					if strings.Contains(it.Err, "SECRET") || strings.Contains(it.Err, "CRET") {
						t.Errorf("row error %q leaks a cell value", it.Err)
					}
				}
				if _, err := r.Next(); err != io.EOF {
					t.Errorf("Next after the end = %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestNewReaderErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		dialect Dialect
		field   string
		reason  string
	}{
		{"empty file", "", Dialect{}, "file", "empty_file"},
		{"blank lines only", "\n\r\n\r", Dialect{}, "file", "empty_file"},
		{"BOM only", "\xEF\xBB\xBF", Dialect{}, "file", "empty_file"},
		{"empty header", ",,\n1,2,3\n", Dialect{}, "file", "empty_header"},
		{"blank header cells", " ; \u00a0\n1;2\n", Dialect{}, "file", "empty_header"},
		{"malformed header", "a,b\"c\n1,2\n", Dialect{}, "file", "malformed_header"},
		{"header quote open", "\"a,b\n1,2\n", Dialect{}, "file", "malformed_header"},
		{"bad delimiter", "a|b\n", Dialect{Delimiter: '|'}, "delimiter", "invalid_delimiter"},
		{"bad encoding", "a\n", Dialect{Encoding: "latin-9"}, "encoding", "invalid_encoding"},
		// Found by a fresh-user trial: the first person of a file without a header was lost
		// silently and their name echoed as unmapped columns.
		{"no header", "headless.person@example.com,Headlessfirst\nother@example.com,Other\n", Dialect{}, "file", "no_header"},
		// Excel's "Unicode Text": it was read as one column and answered "no e-mail column".
		{"UTF-16 LE with BOM", "\xFF\xFEe\x00m\x00a\x00i\x00l\x00\n\x00", Dialect{}, "encoding", "unsupported_encoding"},
		{"UTF-16 LE without BOM", "e\x00m\x00a\x00i\x00l\x00\n\x00x\x00@\x00y\x00\n\x00", Dialect{}, "encoding", "unsupported_encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.in), tt.dialect)
			e := apperr.As(err)
			if r != nil || e == nil || e.Kind != apperr.Invalid || e.Field != tt.field || e.Reason != tt.reason {
				t.Fatalf("NewReader = %v, %#v; want Invalid %s/%s", r, err, tt.field, tt.reason)
			}
		})
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := NewReader(iotest.ErrReader(boom), Dialect{})
	if !errors.Is(err, boom) {
		t.Fatalf("NewReader = %v, want %v", err, boom)
	}
	// An error after the sniffed 64 KiB comes from Next, after the rows before it.
	rows := sniffSize / 4
	in := io.MultiReader(strings.NewReader("a,b\n"+strings.Repeat("1,2\n", rows)), iotest.ErrReader(boom))
	r, err := NewReader(in, Dialect{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if rec, err := r.Next(); err != nil || rec.Line != i+2 {
			t.Fatalf("Next = %v, %v; want line %d", rec, err, i+2)
		}
	}
	for range 2 { // sticky
		if _, err := r.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next = %v, want %v", err, boom)
		}
	}
}

// TestReaderSniffBoundary checks detection at the edge of the 64 KiB it inspects: a character
// cut by the edge is still UTF-8, and a Windows-1252 byte after the edge is replaced, not
// mis-decoded.
func TestReaderSniffBoundary(t *testing.T) {
	// "ü" (C3 BC) starts at the last byte of the sniffed prefix.
	cut := "Email\n" + strings.Repeat("x", sniffSize-len("Email\n")-2) + "\n\u00fc\n"
	if cut[sniffSize-1] != 0xC3 {
		t.Fatalf("test set-up: byte %d is %x", sniffSize-1, cut[sniffSize-1])
	}
	late := "Email\n" + strings.Repeat("x", sniffSize) + "\nM\xFCller\n"

	for _, tt := range []struct {
		name, in string
		last     readItem
	}{
		{"rune cut at the edge", cut, rec(3, "\u00fc")},
		{"Windows-1252 byte after the edge", late, badRec(3, []int{0}, "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.in), Dialect{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Dialect().Encoding != EncodingUTF8 {
				t.Fatalf("Encoding = %q, want utf-8", r.Dialect().Encoding)
			}
			got := readAll(t, r)
			if len(got) != 2 || !reflect.DeepEqual(got[1], tt.last) {
				t.Errorf("got %d items, last %+v; want 2, last %+v", len(got), got[len(got)-1], tt.last)
			}
		})
	}
}

// TestReaderRecordTooLong checks that a quote left open does not load the rest of the file into
// memory: the stream fails at 1 MiB with the record's line, and stays failed.
func TestReaderRecordTooLong(t *testing.T) {
	in := io.MultiReader(
		strings.NewReader("a,b\n1,2\n3,\"SECRET\n"),
		strings.NewReader(strings.Repeat("x,y\n", maxRecordBytes/4+1)),
	)
	r, err := NewReader(in, Dialect{})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := r.Next(); err != nil || rec.Line != 2 {
		t.Fatalf("Next = %v, %v; want line 2", rec, err)
	}
	for range 2 {
		_, err := r.Next()
		e := apperr.As(err)
		if e == nil || e.Kind != apperr.Invalid || e.Reason != "record_too_long" ||
			e.Message != "line 3: a row is longer than 1048576 bytes; is a quote left open?" {
			t.Fatalf("Next = %#v, want record_too_long at line 3", err)
		}
	}

	// A record just under the bound is read whole.
	cellSize := maxRecordBytes - len("\"\",1\n")
	big := "a,b\n\"" + strings.Repeat("z", cellSize) + "\",1\n2,3\n"
	r, err = NewReader(strings.NewReader(big), Dialect{})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	if len(got) != 2 || len(got[0].Fields[0]) != cellSize || got[1].Line != 3 {
		t.Fatalf("got %d items, first cell %d bytes, want 2 items, %d bytes", len(got), len(got[0].Fields[0]), cellSize)
	}
}

func TestLineEndingsTransform(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"\r", "\n"},
		{"\r\n", "\n"},
		{"\n\r", "\n\n"},
		{"\r\r\n\r", "\n\n\n"},
		{"a\rb\r\nc\nd\r", "a\nb\nc\nd\n"},
	} {
		for _, c := range chunkings {
			got, err := io.ReadAll(transform.NewReader(c.wrap(strings.NewReader(tt.in)), lineEndings{}))
			if err != nil || string(got) != tt.want {
				t.Errorf("%s: %q → %q, %v; want %q", c.name, tt.in, got, err, tt.want)
			}
		}
	}
}

// rowSource generates a CSV of n rows on the fly, so benchmarks measure the reader, not a
// buffer holding the whole file.
type rowSource struct {
	n   int
	buf bytes.Buffer
}

func (s *rowSource) Read(p []byte) (int, error) {
	for s.buf.Len() < len(p) && s.n > 0 {
		s.buf.WriteString("person@example.com,Ann,\"Multi\r\nline\",2018-02-05 19:28:22\r\n")
		s.n--
	}
	if s.buf.Len() == 0 {
		return 0, io.EOF
	}
	return s.buf.Read(p)
}

func BenchmarkReader(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		src := &rowSource{n: 10000}
		src.buf.WriteString("Email Address,First Name,NOTES,OPTIN_TIME\r\n")
		r, err := NewReader(src, Dialect{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10000 {
			b.Fatalf("read %d rows", n)
		}
	}
}

// TestReaderTooManyColumns: found by the reliability trial (D13). A CSV with 150,000 columns took
// 17 s of server time for 50 rows. A header or row of more than MaxColumns cells now fails the
// stream as it is read, naming the line; quoted delimiters are not cells.
func TestReaderTooManyColumns(t *testing.T) {
	wide := strings.Repeat("c,", 150_000) + "email\n"
	for _, tc := range []struct{ name, in string }{
		{"header", wide + "x@example.com\n"},
		{"header after blank lines", "\n\n" + wide},
		{"header, semicolons", strings.Repeat(";", MaxColumns) + "\n"},
	} {
		_, err := NewReader(strings.NewReader(tc.in), Dialect{})
		e := apperr.As(err)
		line := 1 + strings.Count(tc.in[:strings.IndexFunc(tc.in, func(r rune) bool { return r != '\n' })], "\n")
		if e == nil || e.Reason != "too_many_columns" || e.Message != fmt.Sprintf("line %d: more than %d columns", line, MaxColumns) {
			t.Errorf("%s: NewReader = %v; want too_many_columns at line %d", tc.name, err, line)
		}
	}

	// A row: the rows before it come through, then the stream fails for good.
	in := "email,name\nx@example.com,a\n\"multi\nline\",b\n" + strings.Repeat(",", MaxColumns) + "\nlater@example.com,c\n"
	r, err := NewReader(strings.NewReader(in), Dialect{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{2, 3} {
		if rec, err := r.Next(); err != nil || rec.Line != want {
			t.Fatalf("Next = %v, %v; want line %d", rec, err, want)
		}
	}
	for range 2 {
		_, err := r.Next()
		if e := apperr.As(err); e == nil || e.Reason != "too_many_columns" || e.Message != fmt.Sprintf("line 5: more than %d columns", MaxColumns) {
			t.Fatalf("Next = %v; want too_many_columns at line 5", err)
		}
	}

	// Exactly MaxColumns cells, and delimiters inside quotes, are fine.
	full := strings.Repeat("c,", MaxColumns-1) + "email\n" + "\"" + strings.Repeat(",", 5*MaxColumns) + "\"\n"
	r, err = NewReader(strings.NewReader(full), Dialect{})
	if err != nil {
		t.Fatalf("%d columns: %v", MaxColumns, err)
	}
	if len(r.Header()) != MaxColumns {
		t.Errorf("header has %d cells", len(r.Header()))
	}
	if rec, err := r.Next(); err != nil || len(rec.Fields) != 1 || len(rec.Fields[0]) != 5*MaxColumns {
		t.Errorf("quoted delimiters: %d fields, %v", len(rec.Fields), err)
	}
}

// BenchmarkReaderWideFile measures the D13 input (150,000 columns, 50 rows): refused at the
// header, after reading only as far as the cap.
func BenchmarkReaderWideFile(b *testing.B) {
	row := strings.Repeat("x,", 150_000) + "x\n"
	in := strings.Repeat("c,", 150_000) + "email\n" + strings.Repeat(row, 50)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := NewReader(strings.NewReader(in), Dialect{}); apperr.As(err) == nil {
			b.Fatal(err)
		}
	}
}

var readerCases = []readerCase{
	{
		name: "comma detected", in: "a,b;c\n1,2;3\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b;c"},
		items: []readItem{rec(2, "1", "2;3")},
	},
	{
		name: "semicolon detected", in: "Email;Name;City, Country\nx@example.com;Ann;Oslo, NO\n",
		want: Dialect{';', EncodingUTF8}, header: []string{"Email", "Name", "City, Country"},
		items: []readItem{rec(2, "x@example.com", "Ann", "Oslo, NO")},
	},
	{
		name: "tab detected", in: "Email\tName\tNote, long\nx@example.com\tAnn\ta;b\n",
		want: Dialect{'\t', EncodingUTF8}, header: []string{"Email", "Name", "Note, long"},
		items: []readItem{rec(2, "x@example.com", "Ann", "a;b")},
	},
	{
		name: "quoted delimiters not counted", in: "\"Name, first\";\"Name, last\";Email\n\"A, B\";C;x\n",
		want: Dialect{';', EncodingUTF8}, header: []string{"Name, first", "Name, last", "Email"},
		items: []readItem{rec(2, "A, B", "C", "x")},
	},
	{
		name: "tie prefers comma", in: "a,b;c\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b;c"},
	},
	{
		name: "one column", in: "Email\nx@example.com\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"Email"},
		items: []readItem{rec(2, "x@example.com")},
	},
	{
		name: "delimiter given", in: "a;b,c\n1;2,3\n", dialect: Dialect{Delimiter: ';'},
		want: Dialect{';', EncodingUTF8}, header: []string{"a", "b,c"},
		items: []readItem{rec(2, "1", "2,3")},
	},
	{
		name: "UTF-8 BOM dropped", in: "\xEF\xBB\xBFEmail,Name\nx@example.com,Müller\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"Email", "Name"},
		items: []readItem{rec(2, "x@example.com", "Müller")},
	},
	{
		name: "UTF-8 BOM dropped, encoding given", in: "\xEF\xBB\xBFEmail\nx\n", dialect: Dialect{Encoding: "UTF8"},
		want: Dialect{',', EncodingUTF8}, header: []string{"Email"},
		items: []readItem{rec(2, "x")},
	},
	{
		name: "Windows-1252 detected", in: "Email;Name;Note\nm@example.de;M\xFCller;\x80 5\n",
		want: Dialect{';', EncodingWindows1252}, header: []string{"Email", "Name", "Note"},
		items: []readItem{rec(2, "m@example.de", "Müller", "€ 5")},
	},
	{
		name: "Windows-1252 in header", in: "E-Mail;Stra\xDFe\nm@example.de;Hauptstra\xDFe 1\n",
		want: Dialect{';', EncodingWindows1252}, header: []string{"E-Mail", "Straße"},
		items: []readItem{rec(2, "m@example.de", "Hauptstraße 1")},
	},
	{
		name: "Windows-1252 given", in: "a\nM\xFCller\n", dialect: Dialect{Encoding: "windows-1252"},
		want: Dialect{',', EncodingWindows1252}, header: []string{"a"},
		items: []readItem{rec(2, "Müller")},
	},
	{
		// A cell that is not UTF-8 comes back blank and marked (found by a new-user trial: it
		// used to become U+FFFD silently); the mapper decides whether it costs the row.
		name: "UTF-8 given, ill-formed byte blanks the cell", in: "a\nM\xFCller\nok\n", dialect: Dialect{Encoding: "utf-8"},
		want: Dialect{',', EncodingUTF8}, header: []string{"a"},
		items: []readItem{badRec(2, []int{0}, ""), rec(3, "ok")},
	},
	{
		// Found by a fresh-user trial: one bad byte in a short UTF-8 file made the whole file
		// Windows-1252, every name garbled (BjÃ¶rn) and nothing refused.
		name: "mostly UTF-8 detected, the bad cell blanked", in: "email,first_name\nutf1@example.com,Bj\xc3\xb6rn\nutf2@example.com,Bad\xffByte\nutf3@example.com,Ren\xc3\xa9e\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"email", "first_name"},
		items: []readItem{rec(2, "utf1@example.com", "Björn"), badRec(3, []int{1}, "utf2@example.com", ""), rec(4, "utf3@example.com", "Renée")},
	},
	{
		name: "newline in quoted cell", in: "a,b\n1,\"x\ny\nz\"\n2,w\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(2, "1", "x\ny\nz"), rec(5, "2", "w")},
	},
	{
		name: "CRLF", in: "a,b\r\n1,2\r\n\"x\r\ny\",3\r\n4,5\r\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(2, "1", "2"), rec(3, "x\ny", "3"), rec(5, "4", "5")},
	},
	{
		name: "lone CR", in: "a,b\r1,2\r\"x\ry\",3\r4,5",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(2, "1", "2"), rec(3, "x\ny", "3"), rec(5, "4", "5")},
	},
	{
		name: "mixed line endings", in: "a,b\r\n1,2\r3,4\n\"x\r\ny\",5\r6,7\n\r8,9\r\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(2, "1", "2"), rec(3, "3", "4"), rec(4, "x\ny", "5"), rec(6, "6", "7"), rec(8, "8", "9")},
	},
	{
		name: "blank lines skipped and counted", in: "\n\na,b\n\n1,2\n\n\n3,4\n\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(5, "1", "2"), rec(8, "3", "4")},
	},
	{
		name: "width differs from header", in: "a,b\n1\n1,2,3\n,\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(2, "1"), rec(3, "1", "2", "3"), rec(4, "", "")},
	},
	{
		name: "cells kept as written, header trimmed", in: " Email ,\u00a0Name\u00a0,\"\"\n x@example.com , Ann \n",
		want: Dialect{',', EncodingUTF8}, header: []string{"Email", "Name", ""},
		items: []readItem{rec(2, " x@example.com ", " Ann ")},
	},
	{
		name: "bare quote", in: "a,b\n1,2\nSECRET\"x,3\n4,5\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(2, "1", "2"), rowErr(3, "quote inside an unquoted cell at line 3, column 7"), rec(4, "4", "5")},
	},
	{
		name: "bare quote in second cell after multi-line row", in: "a,b\n\"1\n1\",2\n3,SE\"CRET\n4,5\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rec(2, "1\n1", "2"), rowErr(4, "quote inside an unquoted cell at line 4, column 5"), rec(5, "4", "5")},
	},
	{
		name: "text after closing quote", in: "a,b\n\"SECRET\"x,1\n2,3\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rowErr(2, "text after the closing quote of a cell at line 2, column 8"), rec(3, "2", "3")},
	},
	{
		name: "text after closing quote on a later line", in: "a,b\n1,\"SE\nCRET\"x\n2,3\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		items: []readItem{rowErr(2, "text after the closing quote of a cell at line 3, column 5"), rec(4, "2", "3")},
	},
	{
		name: "quote open at EOF", in: "a,b\n1,2\n\"SECRET,3\n4,5\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
		// Found by a trial: the reason did not say how much of the file the open quote took.
		items: []readItem{rec(2, "1", "2"), rowErr(3, "quoted cell not closed before the end of the file: lines 3 to 4 were read into it and not imported")},
	},
	{
		name: "header only", in: "a,b\n",
		want: Dialect{',', EncodingUTF8}, header: []string{"a", "b"},
	},
	{
		name: "header only, no newline", in: "a;b",
		want: Dialect{';', EncodingUTF8}, header: []string{"a", "b"},
	},
}
