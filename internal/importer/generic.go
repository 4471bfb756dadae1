package importer

import (
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// Row field names, as used in a generic mapping.
const (
	FieldEmail       = "email"
	FieldFirstName   = "first_name"
	FieldLastName    = "last_name"
	FieldPhone       = "phone"
	FieldCompany     = "company"
	FieldTitle       = "title"
	FieldPostalCode  = "postal_code"
	FieldNotes       = "notes"
	FieldTags        = "tags"
	FieldStatus      = "status"
	FieldOptinTime   = "optin_time"
	FieldOptinIP     = "optin_ip"
	FieldConfirmTime = "confirm_time"
	FieldConfirmIP   = "confirm_ip"
)

type genericField struct {
	name     string
	synonyms []string
}

// genericFields lists the mappable fields with the column names matched when a mapping does not
// name the field, in order of preference. Besides these, the field's own name matches
// ("first_name", "First Name"). Comparison is by headerKey.
var genericFields = []genericField{
	{FieldEmail, []string{"email", "e-mail", "email address", "e-mail address", "mail"}},
	{FieldFirstName, []string{"first name", "firstname", "given name", "vorname"}},
	{FieldLastName, []string{"last name", "lastname", "surname", "family name", "nachname"}},
	{FieldPhone, []string{"phone", "phone number", "telephone", "mobile", "mobile phone", "cell", "cell phone", "telefon", "handy", "mobil"}},
	{FieldCompany, []string{"company", "organization", "organisation", "firma"}},
	{FieldTitle, []string{"title", "job title", "position"}},
	{FieldPostalCode, []string{"zip", "zip code", "postal code", "postcode", "plz"}},
	{FieldNotes, []string{"notes", "note"}},
	{FieldTags, []string{"tags"}},
	{FieldStatus, []string{"status"}},
	{FieldOptinTime, nil},
	{FieldOptinIP, nil},
	{FieldConfirmTime, nil},
	{FieldConfirmIP, nil},
}

func isGenericField(name string) bool {
	return slices.ContainsFunc(genericFields, func(f genericField) bool { return f.name == name })
}

// genericTimeLayouts are the time forms a generic file may use; a time without a zone is UTC.
var genericTimeLayouts = []string{time.RFC3339, mailchimpTime}

// genericMapper maps any CSV with an e-mail column. cols maps a field name to its column index.
type genericMapper struct {
	header []string
	cols   map[string]int
}

// NewGenericMapper returns a Mapper for a CSV file of any layout with this header.
//
// mapping maps a Row field name (FieldEmail … FieldConfirmIP, see ParseMapping) to a header
// column, matched case-insensitively after trimming; an empty column name leaves the field out.
// A field not in mapping is looked up by common column names ("E-Mail", "Vorname", "Surname",
// "PLZ", …; see genericFields), among the columns mapping does not use.
//
// Errors (*apperr.Error, Invalid, Field "mapping"): an unknown field name (Reason
// "unknown_field"), a mapped column missing from the header ("unknown_column"), no e-mail column
// ("missing_column").
func NewGenericMapper(header []string, mapping map[string]string) (Mapper, error) {
	seen := map[string]bool{}
	for _, h := range header {
		k := headerKey(h)
		if k != "" && seen[k] {
			return nil, apperr.Invalidf("file", "duplicate_column", "header: the column %q appears twice", clean(h))
		}
		seen[k] = true
	}
	m := &genericMapper{header: header, cols: make(map[string]int, len(genericFields))}
	used := make(map[int]bool)
	for field, column := range mapping {
		if !isGenericField(field) {
			return nil, apperr.Invalidf("mapping", "unknown_field", "mapping: %q is not a field (%s)", field, fieldList())
		}
		if clean(column) == "" {
			m.cols[field] = -1
			continue
		}
		i := columnIndex(header, column)
		if i < 0 {
			return nil, apperr.Invalidf("mapping", "unknown_column", "mapping %s: the header has no column %q", field, clean(column))
		}
		m.cols[field] = i
		used[i] = true
	}
	for _, f := range genericFields {
		if _, ok := m.cols[f.name]; ok {
			continue
		}
		m.cols[f.name] = -1
		for _, name := range append(slices.Clip(f.synonyms), f.name) {
			key := headerKey(name)
			if i := slices.IndexFunc(header, func(h string) bool { return headerKey(h) == key }); i >= 0 && !used[i] {
				m.cols[f.name] = i
				break
			}
		}
	}
	if m.cols[FieldEmail] < 0 {
		return nil, apperr.Invalidf("mapping", "missing_column", "no e-mail column found: map one with email=COLUMN")
	}
	return m, nil
}

// Column implements Mapper: the header of the column field is read from; "" when none.
func (m *genericMapper) Column(field string) string { return columnOf(m.header, m.cols, field) }

// Unmapped implements Mapper: the header's columns that no field reads, in header order. Their
// cells are not imported; the report lists them so a column the synonyms missed can be mapped.
func (m *genericMapper) Unmapped() []string { return unmapped(m.header, m.cols) }

// genericProof are the fields a row cannot do without: the address, the status and the consent
// evidence. A cell of another mapped column that is not valid UTF-8 is left out with a warning.
var genericProof = []string{FieldEmail, FieldStatus, FieldOptinTime, FieldOptinIP, FieldConfirmTime, FieldConfirmIP}

// Map implements Mapper. A row is refused (*RowError, naming the file's column) for an empty
// e-mail ("E-Mail: empty"), a time neither RFC 3339 nor 2006-01-02 15:04:05 (UTC), a status
// other than subscribed, unsubscribed, cleaned or pending (any case), an IP that is not an IPv4
// or IPv6 address (code invalid_ip), a cell of the e-mail,
// status, time or IP columns that is not valid UTF-8, or non-empty cells beyond the header's
// width. A cell of another mapped column that is not valid UTF-8 is left out with a warning
// (Row.Warnings). Tags are split on ',' or ';'.
func (m *genericMapper) Map(rec Record) (Row, error) {
	if err := checkWidth(rec, len(m.header)); err != nil {
		return Row{}, err
	}
	warnings, err := screen(rec, m.header, m.cols, genericProof)
	if err != nil {
		return Row{}, err
	}
	get := func(field string) string { return cell(rec.Fields, m.cols[field]) }
	row := Row{
		Line:       rec.Line,
		Email:      get(FieldEmail),
		FirstName:  get(FieldFirstName),
		LastName:   get(FieldLastName),
		Phone:      get(FieldPhone),
		Company:    get(FieldCompany),
		Title:      get(FieldTitle),
		PostalCode: get(FieldPostalCode),
		Notes:      get(FieldNotes),
		OptinIP:    get(FieldOptinIP),
		ConfirmIP:  get(FieldConfirmIP),
		Tags:       splitTags(get(FieldTags), ",;"),
		Warnings:   warnings,
	}
	if row.Email == "" {
		col := m.Column(FieldEmail)
		return Row{}, &RowError{Line: rec.Line, Field: col, Code: "required", Reason: col + ": empty"}
	}
	if err := checkIPs(&row, m.Column); err != nil {
		return Row{}, err
	}
	st, ok := parseStatus(get(FieldStatus))
	if !ok {
		col := m.Column(FieldStatus)
		return Row{}, &RowError{Line: rec.Line, Field: col, Code: "invalid_status", Reason: col + ": not subscribed, unsubscribed, cleaned or pending"}
	}
	row.Status = st
	for _, t := range []struct {
		field string
		dst   *time.Time
	}{{FieldOptinTime, &row.OptinTime}, {FieldConfirmTime, &row.ConfirmTime}} {
		v, ok := parseTime(get(t.field), genericTimeLayouts...)
		if !ok {
			col := m.Column(t.field)
			return Row{}, &RowError{Line: rec.Line, Field: col, Code: "invalid_time", Reason: col + ": not a time (RFC 3339 or 2006-01-02 15:04:05)"}
		}
		*t.dst = v
	}
	return row, nil
}

// ParseMapping parses a mapping flag such as "email=E-Mail,first_name=Vorname" into field →
// column. Entries are separated by ',' and trimmed; field names are case-insensitive and may use
// '-' or ' ' for '_'; "phone=" (empty column) leaves the field out. "" gives an empty mapping.
//
// Errors (*apperr.Error, Invalid, Field "mapping"): an entry without '=', an unknown field, a
// field given twice.
func ParseMapping(s string) (map[string]string, error) {
	mapping := make(map[string]string)
	for entry := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, apperr.Invalidf("mapping", "invalid_mapping", "mapping: %q is not field=column", strings.TrimSpace(entry))
		}
		field := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(k)))
		if !isGenericField(field) {
			return nil, apperr.Invalidf("mapping", "unknown_field", "mapping: %q is not a field (%s)", strings.TrimSpace(k), fieldList())
		}
		if _, dup := mapping[field]; dup {
			return nil, apperr.Invalidf("mapping", "duplicate_field", "mapping: %s is given twice", field)
		}
		mapping[field] = strings.TrimSpace(v)
	}
	return mapping, nil
}

// fieldList names the mappable fields for error messages.
func fieldList() string {
	names := make([]string, len(genericFields))
	for i, f := range genericFields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}
