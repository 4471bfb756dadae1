package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/tillit/tillit/internal/apperr"
)

// Encoding names accepted in Dialect.Encoding.
const (
	EncodingUTF8        = "utf-8"
	EncodingWindows1252 = "windows-1252"
)

// sniffSize is how much of the file is inspected to detect the encoding and the delimiter.
const sniffSize = 64 << 10

// maxRecordBytes bounds one record (header or row, all its physical lines together, after
// decoding). A longer record is almost always a quote left open that swallows the rest of the
// file; the bound keeps memory flat whatever the input.
const maxRecordBytes = 1 << 20

// MaxColumns bounds the cells of one record (header or row). Exports of the widest CRMs stay
// well below it; a file past it is refused as it is read, before any work per cell (a file with
// 150,000 columns once took 17 s for 50 rows).
const MaxColumns = 2000

// Dialect says how a CSV file is written. Zero values mean "detect".
type Dialect struct {
	// Delimiter is ',', ';' or '\t'. 0 means detect from the header line: the candidate with the
	// most occurrences outside quotes wins, ties in the order ',', ';', '\t'; a header with none of
	// them is a one-column file read with ','.
	Delimiter rune
	// Encoding is EncodingUTF8 or EncodingWindows1252 ("utf8" and "cp1252" are accepted as
	// aliases, case-insensitively). "" means detect: a UTF-8 byte order mark means UTF-8 (the mark
	// is dropped); else valid UTF-8 in the first 64 KiB means UTF-8, and so do multi-byte UTF-8
	// sequences outnumbering the bytes that are not UTF-8 (those cells are blanked); else
	// Windows-1252. UTF-16 is refused (Reason "unsupported_encoding").
	// A cell with ill-formed UTF-8 in a UTF-8 file comes back blank, its index in
	// Record.Invalid: the Mapper refuses the row when the cell was needed, else leaves it out.
	Encoding string
}

// Record is one CSV record: its physical starting line (1-based, counting every line ending of
// the file: \n, \r\n or a lone \r; the header is line 1 unless blank lines precede it) and its
// cells exactly as written (unquoted, not trimmed). Fields may be fewer or more than the header's
// cells: the Mapper decides.
type Record struct {
	Line   int
	Fields []string
	// Invalid lists, in column order, the indexes of cells that were not valid UTF-8 in a UTF-8
	// file; those cells are "" in Fields (a cell never holds bytes that are not UTF-8).
	Invalid []int
}

// RowError refuses one row. Line is the row's physical starting line; Field the header column
// (or Row field, "email") the reason is about, "" for the whole row; Code the reason as a code
// ("malformed_row", "invalid_utf8", "too_many_cells", "required", "invalid_status",
// "invalid_time"). Reason is client-safe: it names columns and positions, never cell values
// (cells are personal data).
type RowError struct {
	Line   int
	Field  string
	Code   string
	Reason string
}

// report turns the error into the report's entry for the row.
func (e *RowError) report() *RowReport {
	return &RowReport{Line: e.Line, Field: e.Field, Code: e.Code, Reason: e.Reason}
}

// Error implements error as "line N: reason".
func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Reader streams CSV records with their physical starting line numbers.
//
// Quoted cells may contain line breaks; line endings may be \n, \r\n or a lone \r, mixed in one
// file. Every lone \r and every \r\n is read as \n, also inside a quoted cell (a cell's "a\rb"
// comes back as "a\nb"). Blank lines are skipped. Memory is bounded by one record (at most
// 1 MiB) plus fixed buffers, whatever the number of rows.
type Reader struct {
	csv     *csv.Reader
	guard   *recordGuard
	header  []string
	dialect Dialect
	err     error // sticky: io.EOF or a fatal error
}

// NewReader reads r's header and returns a Reader positioned on the first row.
//
// Errors (all *apperr.Error of kind Invalid unless reading r fails): an unknown Dialect value
// (Field "delimiter" or "encoding"), an empty file (Reason "empty_file"), a header whose cells
// are all empty (Reason "empty_header"), a malformed header (Reason "malformed_header"), a first
// line that holds an e-mail address, so is data (Reason "no_header"), a header of more than
// MaxColumns cells (Reason "too_many_columns") or over 1 MiB (Reason "record_too_long").
func NewReader(r io.Reader, d Dialect) (*Reader, error) {
	enc, err := canonicalEncoding(d.Encoding)
	if err != nil {
		return nil, err
	}
	switch d.Delimiter {
	case 0, ',', ';', '\t':
	default:
		return nil, apperr.Invalidf("delimiter", "invalid_delimiter", "the delimiter must be comma, semicolon or tab")
	}

	raw := bufio.NewReaderSize(r, sniffSize)
	head, err := raw.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("importer: read: %w", err)
	}
	atEOF := err == io.EOF
	hasBOM := bytes.HasPrefix(head, []byte("\xEF\xBB\xBF"))
	if utf16Like(head) {
		return nil, apperr.Invalidf("encoding", "unsupported_encoding", "the file is UTF-16 (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\" and import that")
	}
	if enc == "" {
		switch {
		case hasBOM:
			enc = EncodingUTF8
		case validUTF8Prefix(head, atEOF):
			enc = EncodingUTF8
		case mostlyUTF8(head):
			// UTF-8 with a few bad bytes: those rows are refused, the rest keep their letters
			// (read as Windows-1252, every ö would become Ã¶).
			enc = EncodingUTF8
		default:
			enc = EncodingWindows1252
		}
	}
	var decoder transform.Transformer
	if enc == EncodingUTF8 {
		if hasBOM {
			if _, err := raw.Discard(3); err != nil {
				return nil, fmt.Errorf("importer: read: %w", err)
			}
		}
		// Bytes pass through unchanged; Next refuses a row that is not valid UTF-8 instead of
		// silently turning its bytes into U+FFFD.
		decoder = transform.Nop
	} else {
		decoder = charmap.Windows1252.NewDecoder()
	}
	text := bufio.NewReaderSize(transform.NewReader(raw, transform.Chain(decoder, lineEndings{})), sniffSize)

	delim := d.Delimiter
	if delim == 0 {
		delim, err = detectDelimiter(text)
		if err != nil {
			return nil, err
		}
	}

	guard := &recordGuard{r: text, delim: byte(delim), line: 1}
	cr := csv.NewReader(guard)
	cr.Comma = delim
	cr.LazyQuotes = false
	cr.FieldsPerRecord = -1

	rd := &Reader{csv: cr, guard: guard, dialect: Dialect{Delimiter: delim, Encoding: enc}}
	fields, err := cr.Read()
	if err != nil {
		var pe *csv.ParseError
		switch {
		case err == io.EOF:
			return nil, apperr.Invalidf("file", "empty_file", "the file is empty")
		case errors.As(err, &pe):
			return nil, apperr.Invalidf("file", "malformed_header", "header: %s", rd.parseReason(pe))
		default:
			return nil, err
		}
	}
	rd.header = make([]string, len(fields))
	empty := true
	for i, f := range fields {
		rd.header[i] = clean(f)
		if rd.header[i] != "" {
			empty = false
		}
	}
	if empty {
		return nil, apperr.Invalidf("file", "empty_header", "the header line has no column names")
	}
	for i, h := range rd.header {
		if looksLikeAddress(h) {
			// A file without a header: its first person would be read as column names, neither
			// imported nor refused, and echoed in the report. The cell is not repeated here.
			return nil, apperr.Invalidf("file", "no_header", "the first line holds an e-mail address (column %d), so it is data, not a header: add a header line naming the columns", i+1)
		}
	}
	return rd, nil
}

// looksLikeAddress reports whether a header cell is shaped like an e-mail address (one @ with
// text on both sides and a dot after it, no spaces), which no column name is.
func looksLikeAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && strings.Count(s, "@") == 1 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " \t,;")
}

// Header returns the header cells, trimmed (white space, NBSP, byte order mark).
func (r *Reader) Header() []string { return r.header }

// Dialect returns the delimiter and the canonical encoding name in use, detected or given.
func (r *Reader) Dialect() Dialect { return r.dialect }

// Next returns the next record, or io.EOF after the last one.
//
// A malformed row (a quote inside an unquoted cell, text after a closing quote, a quote still
// open at the end of the file) comes back as a *RowError; the caller may call Next again for the
// rows after it. Any other error ends the stream and is returned again by every later call: a
// read error, or an *apperr.Error when one record passes 1 MiB (Reason "record_too_long") or
// MaxColumns cells (Reason "too_many_columns"), naming the record's line.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	fields, err := r.csv.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Record{}, &RowError{Line: pe.StartLine, Code: "malformed_row", Reason: r.parseReason(pe)}
		}
		r.err = err
		return Record{}, err
	}
	line, _ := r.csv.FieldPos(0)
	rec := Record{Line: line, Fields: fields}
	if r.dialect.Encoding == EncodingUTF8 {
		for i, f := range fields {
			if !utf8.ValidString(f) {
				fields[i] = ""
				rec.Invalid = append(rec.Invalid, i)
			}
		}
	}
	return rec, nil
}

// parseReason turns a csv.ParseError into a client-safe reason (positions only).
func (r *Reader) parseReason(pe *csv.ParseError) string {
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Sprintf("quote inside an unquoted cell at line %d, column %d", pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote) && r.guard.openAtEOF == pe.StartLine && pe.Line > pe.StartLine:
		return fmt.Sprintf("quoted cell not closed before the end of the file: lines %d to %d were read into it and not imported", pe.StartLine, pe.Line)
	case errors.Is(pe.Err, csv.ErrQuote) && r.guard.openAtEOF == pe.StartLine:
		return "quoted cell not closed before the end of the file"
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Sprintf("text after the closing quote of a cell at line %d, column %d", pe.Line, pe.Column)
	default:
		return "malformed row"
	}
}

func canonicalEncoding(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "utf-8", "utf8":
		return EncodingUTF8, nil
	case "windows-1252", "cp1252":
		return EncodingWindows1252, nil
	}
	return "", apperr.Invalidf("encoding", "invalid_encoding", "the encoding must be utf-8 or windows-1252")
}

// mostlyUTF8 reports whether b holds multi-byte UTF-8 sequences and at most as many bytes that
// are not UTF-8. Windows-1252 text practically never forms a valid multi-byte sequence (a lead
// byte such as Ã followed by a continuation byte such as ¶), so one is strong evidence of UTF-8.
func mostlyUTF8(b []byte) bool {
	multi, bad := 0, 0
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			if len(b) < utf8.UTFMax && !utf8.FullRune(b) {
				b = nil // cut off at the end of the sample
				continue
			}
			bad++
		case n > 1:
			multi++
		}
		b = b[max(n, 1):]
	}
	return multi > 0 && bad <= multi
}

// utf16Like reports whether b starts with a UTF-16 byte order mark or is mostly zero bytes
// (UTF-16 text in the Latin range), which the CSV reader cannot take.
func utf16Like(b []byte) bool {
	if bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF}) {
		return true
	}
	n := min(len(b), 512)
	return n >= 8 && bytes.Count(b[:n], []byte{0}) > n/4
}

// validUTF8Prefix reports whether b is valid UTF-8, ignoring a rune cut off at the end of b
// when more of the file follows.
func validUTF8Prefix(b []byte, atEOF bool) bool {
	if !atEOF {
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return utf8.Valid(b)
}

// detectDelimiter counts the candidates outside quotes in the first line of text (as far as
// the first 64 KiB reach) without consuming anything.
func detectDelimiter(text *bufio.Reader) (rune, error) {
	buf, err := text.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return 0, fmt.Errorf("importer: read: %w", err)
	}
	buf = bytes.TrimLeft(buf, "\n") // blank lines before the header
	candidates := []byte{',', ';', '\t'}
	var counts [3]int
	quoted := false
scan:
	for _, c := range buf {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			break scan
		default:
			if i := bytes.IndexByte(candidates, c); i >= 0 {
				counts[i]++
			}
		}
	}
	best := 0
	for i := range counts {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return rune(candidates[best]), nil
}

// lineEndings is a transform.Transformer that turns \r\n and a lone \r into \n.
type lineEndings struct{ transform.NopResetter }

// Transform implements transform.Transformer.
func (lineEndings) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		if nDst >= len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		c := src[nSrc]
		if c != '\r' {
			dst[nDst] = c
			nDst++
			nSrc++
			continue
		}
		switch {
		case nSrc+1 < len(src):
			if src[nSrc+1] == '\n' {
				nSrc++
			}
		case !atEOF:
			return nDst, nSrc, transform.ErrShortSrc // need the next byte to tell \r\n from \r
		}
		dst[nDst] = '\n'
		nDst++
		nSrc++
	}
	return nDst, nSrc, nil
}

// Lexer states of recordGuard, mirroring encoding/csv with LazyQuotes off.
const (
	atFieldStart = iota
	inUnquoted
	inQuoted
	afterQuote // a quote inside a quoted cell: closing, or the first of ""
	skipToEOL  // after a malformed quote encoding/csv drops the rest of the line
)

// recordGuard sits under encoding/csv and follows the record structure byte by byte (the input
// has \n line endings only). It fails the stream when a record passes maxRecordBytes or
// MaxColumns cells, and remembers the starting line of a record whose quoted cell is still open
// at EOF.
type recordGuard struct {
	r         io.Reader
	delim     byte
	state     int
	line      int // current physical line
	start     int // starting line of the current record; 0 between records
	size      int // bytes of the current record so far
	cells     int // cells of the current record so far
	openAtEOF int // starting line of the record left inside quotes at EOF; 0 if none
	err       error
}

// Read implements io.Reader.
func (g *recordGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i := 0; i < n; i++ {
		c := p[i]
		if g.start == 0 {
			if c == '\n' { // blank line between records
				g.line++
				continue
			}
			g.start, g.size, g.cells, g.state = g.line, 0, 1, atFieldStart
		}
		g.size++
		if g.size > maxRecordBytes {
			g.err = &apperr.Error{Kind: apperr.Invalid, Field: "file", Reason: "record_too_long",
				Message: fmt.Sprintf("line %d: a row is longer than %d bytes; is a quote left open?", g.start, maxRecordBytes)}
			return i, g.err
		}
		end, cell := false, false
		switch g.state {
		case atFieldStart:
			switch c {
			case '"':
				g.state = inQuoted
			case g.delim:
				cell = true
			case '\n':
				end = true
			default:
				g.state = inUnquoted
			}
		case inUnquoted:
			switch c {
			case g.delim:
				g.state, cell = atFieldStart, true
			case '\n':
				end = true
			case '"':
				g.state = skipToEOL
			}
		case inQuoted:
			if c == '"' {
				g.state = afterQuote
			}
		case afterQuote:
			switch c {
			case '"':
				g.state = inQuoted
			case g.delim:
				g.state, cell = atFieldStart, true
			case '\n':
				end = true
			default:
				g.state = skipToEOL
			}
		case skipToEOL:
			end = c == '\n'
		}
		if cell {
			if g.cells++; g.cells > MaxColumns {
				g.err = &apperr.Error{Kind: apperr.Invalid, Field: "file", Reason: "too_many_columns",
					Message: fmt.Sprintf("line %d: more than %d columns", g.start, MaxColumns)}
				return i, g.err
			}
		}
		if c == '\n' {
			g.line++
		}
		if end {
			g.start = 0
		}
	}
	if err == io.EOF && g.start != 0 && g.state == inQuoted {
		g.openAtEOF = g.start
	}
	return n, err
}
