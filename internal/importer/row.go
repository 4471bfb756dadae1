package importer

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Status is a subscriber's state in the source system, as Mailchimp names it.
type Status string

// The statuses. StatusNone is a generic file without a status column.
const (
	StatusNone         Status = ""
	StatusSubscribed   Status = "subscribed"
	StatusUnsubscribed Status = "unsubscribed"
	StatusCleaned      Status = "cleaned" // the address bounced and the source stopped mailing it
	StatusPending      Status = "pending" // signed up, double opt-in not confirmed
)

// parseStatus reads a status cell case-insensitively; ok is false for an unknown value.
func parseStatus(s string) (st Status, ok bool) {
	switch st := Status(strings.ToLower(clean(s))); st {
	case StatusNone, StatusSubscribed, StatusUnsubscribed, StatusCleaned, StatusPending:
		return st, true
	}
	return "", false
}

// Row is the neutral shape every import format maps to, one per data row. Strings are trimmed
// (white space including NBSP, zero-width space and byte order mark) and otherwise as written:
// e-mail addresses and phone numbers are not normalized or validated here.
type Row struct {
	Line int // physical starting line of the record in the file

	Email, FirstName, LastName, Phone, Company, Title, PostalCode, Notes string

	// Country is the row's ISO 3166-1 alpha-2 country as written (Mailchimp's CC column), upper
	// case; "" when absent. It is the region of a phone number without a country code.
	Country string

	Status Status

	OptinTime, ConfirmTime time.Time // UTC; zero when absent
	OptinIP, ConfirmIP     string

	// ChangedTime is when the status last changed in the source (Mailchimp UNSUB_TIME,
	// CLEAN_TIME or LAST_CHANGED); UTC, zero when absent. ChangedColumn is the header of the
	// column it was read from ("" when absent).
	ChangedTime   time.Time
	ChangedColumn string

	Tags []string // trimmed, no empty or repeated names, in file order; nil when none

	// ExternalIDs holds the source system's ids by kind ("mailchimp_leid", "mailchimp_euid"),
	// only non-empty ones; nil when none.
	ExternalIDs map[string]string

	// Warnings lists the row's cells the mapper left out (a cell of an optional column that is
	// not valid UTF-8), each naming its column; nil when none. The row is imported without them.
	Warnings []RowReport
}

// FieldCountry is the Row field of the row's country (Mailchimp's CC column).
const FieldCountry = "country"

// Mapper turns a Record into a Row, or refuses it with a *RowError whose Reason names the
// file's column (never its value).
type Mapper interface {
	Map(rec Record) (Row, error)
	// Column returns the header of the column a Row field (FieldEmail, FieldPhone, …) is read
	// from, as the file writes it (trimmed), so that reports name the file's own column; ""
	// when no column feeds the field.
	Column(field string) string
	// Unmapped returns the header's columns no field reads, in header order: their cells are not
	// imported.
	Unmapped() []string
}

// columnOf returns the trimmed header of the column cols maps key to; "" when the key is not
// mapped.
func columnOf(header []string, cols map[string]int, key string) string {
	i, ok := cols[key]
	if !ok {
		return ""
	}
	return columnName(header, i)
}

// columnName returns the trimmed header of column i; "" when i < 0, and "column N" (1-based)
// for a cell beyond the header.
func columnName(header []string, i int) string {
	switch {
	case i < 0:
		return ""
	case i >= len(header) || clean(header[i]) == "":
		return fmt.Sprintf("column %d", i+1)
	}
	return clean(header[i])
}

// unmapped returns the non-empty headers whose index is not among cols' values, in header order.
func unmapped(header []string, cols map[string]int) []string {
	used := make(map[int]bool, len(cols))
	for _, i := range cols {
		used[i] = true
	}
	var out []string
	for i, h := range header {
		if !used[i] && clean(h) != "" {
			out = append(out, clean(h))
		}
	}
	return out
}

// msgNotUTF8 is the advice for a cell that is not valid UTF-8.
const msgNotUTF8 = "not valid UTF-8; if the file is Windows-1252, import it with encoding windows-1252"

// screen handles rec's cells that were not valid UTF-8 (Record.Invalid, already blanked): one
// in the column of a key in proof refuses the row (*RowError, code invalid_utf8); one in
// another column that cols maps is left out with a warning naming the column; one in a column
// nothing reads is dropped with its column.
func screen(rec Record, header []string, cols map[string]int, proof []string) ([]RowReport, error) {
	var warnings []RowReport
	for _, i := range rec.Invalid {
		col := columnName(header, i)
		mapped := false
		for key, c := range cols {
			if c != i {
				continue
			}
			if slices.Contains(proof, key) {
				return nil, &RowError{Line: rec.Line, Field: col, Code: "invalid_utf8", Reason: col + ": " + msgNotUTF8}
			}
			mapped = true
		}
		if mapped {
			warnings = append(warnings, RowReport{Line: rec.Line, Field: col, Code: "invalid_utf8", Reason: col + ": left out, " + msgNotUTF8})
		}
	}
	return warnings, nil
}

// clean trims white space (unicode.IsSpace, which covers NBSP), zero-width spaces and byte
// order marks from both ends of s.
func clean(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u00a0' || r == '\u200b' || r == '\ufeff'
	})
}

// cell returns the trimmed cell at index i of fields; "" when i < 0 (column absent) or the row
// is shorter than the header.
func cell(fields []string, i int) string {
	if i < 0 || i >= len(fields) {
		return ""
	}
	return clean(fields[i])
}

// headerKey is how column names are compared: trimmed, lower case, '_' and '-' read as spaces,
// runs of spaces collapsed ("E-Mail" and "e_mail" both become "e mail").
func headerKey(s string) string {
	s = strings.ToLower(clean(s))
	s = strings.NewReplacer("_", " ", "-", " ").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// columnIndex finds a column by name: an exact case-insensitive match of the trimmed name
// first, else the same headerKey. The first match wins; -1 when there is none.
func columnIndex(header []string, name string) int {
	name = clean(name)
	for i, h := range header {
		if strings.EqualFold(clean(h), name) {
			return i
		}
	}
	key := headerKey(name)
	for i, h := range header {
		if headerKey(h) == key {
			return i
		}
	}
	return -1
}

// Time layouts.
const mailchimpTime = "2006-01-02 15:04:05" // Mailchimp exports, always UTC

// parseTime reads a cell in one of layouts; a layout without a zone is read as UTC. The result
// is in UTC; the zero time for an empty cell.
func parseTime(s string, layouts ...string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// splitTags splits a tags cell on any byte of seps outside double quotes. A name may be
// wrapped in double quotes, with "" inside them for a literal quote, as Mailchimp writes TAGS:
// `"Editors","Lorem Editors"`. Names are trimmed; empty and repeated names are dropped; a quote
// left open runs to the end of the cell. nil when there is no name.
func splitTags(s, seps string) []string {
	var tags []string
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '"' && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && strings.IndexByte(seps, c) >= 0:
			tags = addTag(tags, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return addTag(tags, b.String())
}

// addTag appends name to tags unless it is empty or already there.
func addTag(tags []string, name string) []string {
	name = clean(name)
	if name == "" {
		return tags
	}
	for _, t := range tags {
		if t == name {
			return tags
		}
	}
	return append(tags, name)
}

// checkWidth refuses a row with non-empty cells beyond the header's width: an unquoted
// delimiter inside a value shifts every later cell under the wrong column. Empty extra cells are
// accepted; missing trailing cells too (see checkShort for the formats that refuse them).
func checkWidth(rec Record, width int) error {
	if len(rec.Fields) <= width {
		return nil
	}
	for _, f := range rec.Fields[width:] {
		if clean(f) != "" {
			return &RowError{Line: rec.Line, Code: "too_many_cells", Reason: fmt.Sprintf("row has %d cells, header has %d", len(rec.Fields), width)}
		}
	}
	return nil
}

// checkShort refuses a row that ends before a cell of a column in proof (the keys of cols whose
// cells are the row's status and consent evidence), code too_few_cells naming the first such
// column. Mailchimp writes every cell of every row, so such a row was cut off or broken in two
// by a newline outside quotes, and its missing cells (OPTIN_TIME, UNSUB_TIME, …) would read as
// empty: a withdrawal would become a subscription with the import's time as consent time. Cells
// missing from other columns (TAGS, NOTES, …) read as empty.
func checkShort(rec Record, header []string, cols map[string]int, proof []string) error {
	first := -1
	for _, key := range proof {
		if i := cols[key]; i >= len(rec.Fields) && (first < 0 || i < first) {
			first = i
		}
	}
	if first < 0 {
		return nil
	}
	col := columnName(header, first)
	return &RowError{Line: rec.Line, Field: col, Code: "too_few_cells",
		Reason: fmt.Sprintf("%s: missing, the row has %d cells and the header %d (a row cut off or broken by a line break outside quotes)", col, len(rec.Fields), len(header))}
}

// checkIPs reads the row's OPTIN_IP and CONFIRM_IP cells as IPv4 or IPv6 addresses (net/netip,
// without a zone) and writes them in their canonical form. A cell that is not one refuses the
// row (*RowError, code invalid_ip, naming the file's column, never the value): the IPs are the
// consent's evidence (GDPR Art. 7(1)), and a value such as "=cmd|calc" is no proof of anything.
func checkIPs(row *Row, column func(field string) string) error {
	for _, f := range []struct {
		field string
		ip    *string
	}{{FieldOptinIP, &row.OptinIP}, {FieldConfirmIP, &row.ConfirmIP}} {
		if *f.ip == "" {
			continue
		}
		a, err := netip.ParseAddr(*f.ip)
		if err != nil || a.Zone() != "" {
			col := column(f.field)
			return &RowError{Line: row.Line, Field: col, Code: "invalid_ip", Reason: col + ": not an IPv4 or IPv6 address"}
		}
		*f.ip = a.String()
	}
	return nil
}
