package importer

import (
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// Mailchimp-only columns, as keys of mailchimpMapper.cols beside the Row field names.
const (
	colUnsubTime   = "unsub_time"
	colCleanTime   = "clean_time"
	colLastChanged = "last_changed"
	colLEID        = "leid"
	colEUID        = "euid"
)

// mailchimpColumns are the columns a Mailchimp export is read from, by field or column key, with
// the header names matched, in order of preference.
var mailchimpColumns = []struct {
	key   string
	names []string
}{
	{FieldEmail, []string{"Email Address"}},
	{FieldFirstName, []string{"First Name"}},
	{FieldLastName, []string{"Last Name"}},
	{FieldPhone, []string{"Phone Number", "Phone"}},
	{FieldCompany, []string{"Company"}},
	{FieldTitle, []string{"Position", "Title", "Job Title"}},
	{FieldPostalCode, []string{"ZIP Code", "Zip", "Postal Code"}},
	{FieldNotes, []string{"NOTES"}},
	{FieldCountry, []string{"CC"}},
	{FieldOptinTime, []string{"OPTIN_TIME"}},
	{FieldOptinIP, []string{"OPTIN_IP"}},
	{FieldConfirmTime, []string{"CONFIRM_TIME"}},
	{FieldConfirmIP, []string{"CONFIRM_IP"}},
	{colUnsubTime, []string{"UNSUB_TIME"}},
	{colCleanTime, []string{"CLEAN_TIME"}},
	{colLastChanged, []string{"LAST_CHANGED"}},
	{colLEID, []string{"LEID"}},
	{colEUID, []string{"EUID"}},
	{FieldTags, []string{"TAGS"}},
	{FieldStatus, []string{"Status", "MEMBER_STATUS"}},
}

// mailchimpMapper maps a Mailchimp audience export (one of the per-status files Mailchimp writes:
// subscribed, unsubscribed, cleaned). cols maps a field or column key (mailchimpColumns) to its
// column index, -1 when the column is absent.
type mailchimpMapper struct {
	header []string
	status Status // the file's status, given or inferred; StatusNone when read per row
	cols   map[string]int
}

// NewMailchimpMapper returns a Mapper for a Mailchimp audience export with this header.
//
// Columns are matched case-insensitively after trimming ("Email Address", "First Name",
// "Last Name", "Phone Number", "Company", "Position", "ZIP Code", "NOTES", "CC", "OPTIN_TIME",
// "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "UNSUB_TIME", "CLEAN_TIME", "LAST_CHANGED", "LEID",
// "EUID", "TAGS", "Status" or "MEMBER_STATUS"; see mailchimpColumns); the first of equal names
// wins. Other columns (MEMBER_RATING, LATITUDE, …) are not imported: Unmapped lists them. CC,
// Mailchimp's ISO 3166-1 alpha-2 country of the subscriber, is read as the region of a phone
// number written without a country code.
//
// status is the file's status. With StatusNone, a file with an UNSUB_TIME or CLEAN_TIME column
// has its status read per row (mailchimpMapper.rowStatus: one sheet may merge Mailchimp's three
// exports), and any other file is subscribed. A non-empty Status or MEMBER_STATUS cell overrides
// the file's status for its row.
//
// Errors (*apperr.Error, Invalid): no "Email Address" column (Reason "missing_column"); an
// unknown status; status subscribed or pending for a file with UNSUB_TIME or CLEAN_TIME columns
// (Reason "status_conflict": importing an unsubscribed or cleaned export as consenting people
// would invent consent).
func NewMailchimpMapper(header []string, status Status) (Mapper, error) {
	st, ok := parseStatus(string(status))
	if !ok {
		return nil, apperr.Invalidf("status", "invalid_status", "status must be subscribed, unsubscribed, cleaned or pending")
	}
	m := &mailchimpMapper{header: header, cols: make(map[string]int, len(mailchimpColumns))}
	for _, c := range mailchimpColumns {
		m.cols[c.key] = -1
		for _, n := range c.names {
			if i := columnIndex(header, n); i >= 0 {
				m.cols[c.key] = i
				break
			}
		}
	}
	has := func(key string) bool { return m.cols[key] >= 0 }
	if !has(FieldEmail) {
		return nil, apperr.Invalidf("file", "missing_column", `the header has no "Email Address" column`)
	}
	switch {
	case st == StatusNone && (has(colUnsubTime) || has(colCleanTime)):
		// Read per row (rowStatus).
	case st == StatusNone && !has(FieldStatus) && !has(FieldOptinTime) && !has(FieldConfirmTime) && !has(colLastChanged):
		// Not a Mailchimp members export: nothing in the file says its people subscribed, and
		// recording consent for a bare list would mail people who never asked.
		return nil, apperr.Invalidf("status", "status_required",
			"status: the file has no status column and no OPTIN_TIME, CONFIRM_TIME, LAST_CHANGED, UNSUB_TIME or CLEAN_TIME column, so nothing shows what its people agreed to; give the status (subscribed only if each of them opted in)")
	case st == StatusNone:
		st = StatusSubscribed
	case (st == StatusSubscribed || st == StatusPending) && (has(colUnsubTime) || has(colCleanTime)):
		return nil, apperr.Invalidf("status", "status_conflict",
			"status %s contradicts the file's UNSUB_TIME or CLEAN_TIME column", st)
	}
	m.status = st
	return m, nil
}

// Column implements Mapper: the header of the column key (a Row field name, or "unsub_time",
// "clean_time", "last_changed", "leid", "euid") is read from; "" when the file has none.
func (m *mailchimpMapper) Column(key string) string { return columnOf(m.header, m.cols, key) }

// Unmapped implements Mapper: the columns no field reads, in header order (MEMBER_RATING,
// LATITUDE, …).
func (m *mailchimpMapper) Unmapped() []string { return unmapped(m.header, m.cols) }

// mailchimpProof are the columns a row cannot do without: the address, the status and the consent
// evidence. A cell of another column that is not valid UTF-8 is left out with a warning.
var mailchimpProof = []string{FieldEmail, FieldStatus, FieldOptinTime, FieldOptinIP, FieldConfirmTime, FieldConfirmIP, colUnsubTime, colCleanTime, colLastChanged}

// Map implements Mapper. A row is refused (*RowError) for an empty e-mail ("Email Address:
// empty"), a time not of the form 2006-01-02 15:04:05, an OPTIN_IP or CONFIRM_IP that is not an IP
// address (code invalid_ip), an unknown status value, a cell of the
// address, status, time or IP columns that is not valid UTF-8, or non-empty cells beyond the
// header's width. A cell of another column that is not valid UTF-8 is left out with a warning
// (Row.Warnings).
func (m *mailchimpMapper) Map(rec Record) (Row, error) {
	if err := checkWidth(rec, len(m.header)); err != nil {
		return Row{}, err
	}
	if err := checkShort(rec, m.header, m.cols, mailchimpProof); err != nil {
		return Row{}, err
	}
	warnings, err := screen(rec, m.header, m.cols, mailchimpProof)
	if err != nil {
		return Row{}, err
	}
	f := rec.Fields
	get := func(key string) string { return cell(f, m.cols[key]) }
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
		Country:    strings.ToUpper(get(FieldCountry)),
		Status:     m.status,
		OptinIP:    get(FieldOptinIP),
		ConfirmIP:  get(FieldConfirmIP),
		Warnings:   warnings,
	}
	if row.Email == "" {
		col := m.Column(FieldEmail)
		return Row{}, &RowError{Line: rec.Line, Field: col, Code: "required", Reason: col + ": empty"}
	}
	if err := checkIPs(&row, m.Column); err != nil {
		return Row{}, err
	}
	if s := get(FieldStatus); s != "" {
		st, ok := parseStatus(s)
		if !ok {
			col := m.Column(FieldStatus)
			return Row{}, &RowError{Line: rec.Line, Field: col, Code: "invalid_status", Reason: col + ": not subscribed, unsubscribed, cleaned or pending"}
		}
		row.Status = st
	} else if row.Status == StatusNone {
		if row.Status, err = m.rowStatus(rec); err != nil {
			return Row{}, err
		}
	}

	if row.OptinTime, err = m.time(rec, FieldOptinTime); err != nil {
		return Row{}, err
	}
	if row.ConfirmTime, err = m.time(rec, FieldConfirmTime); err != nil {
		return Row{}, err
	}
	// The change time: the column of the row's status first, then LAST_CHANGED.
	changed := []string{colLastChanged, colUnsubTime, colCleanTime}
	switch row.Status {
	case StatusUnsubscribed:
		changed = []string{colUnsubTime, colLastChanged, colCleanTime}
	case StatusCleaned:
		changed = []string{colCleanTime, colLastChanged, colUnsubTime}
	}
	for _, key := range changed {
		if get(key) != "" {
			if row.ChangedTime, err = m.time(rec, key); err != nil {
				return Row{}, err
			}
			row.ChangedColumn = m.Column(key)
			break
		}
	}

	row.Tags = splitTags(get(FieldTags), ",")
	if leid, euid := get(colLEID), get(colEUID); leid != "" || euid != "" {
		row.ExternalIDs = make(map[string]string, 2)
		if leid != "" {
			row.ExternalIDs["mailchimp_leid"] = leid
		}
		if euid != "" {
			row.ExternalIDs["mailchimp_euid"] = euid
		}
	}
	return row, nil
}

// time parses the cell of column key as a Mailchimp UTC time; zero when absent or empty.
func (m *mailchimpMapper) time(rec Record, key string) (time.Time, error) {
	t, ok := parseTime(cell(rec.Fields, m.cols[key]), mailchimpTime)
	if !ok {
		col := m.Column(key)
		return time.Time{}, &RowError{Line: rec.Line, Field: col, Code: "invalid_time", Reason: col + ": not a time of the form " + mailchimpTime}
	}
	return t, nil
}

// rowStatus is the status of a row of a file whose status is read per row (no status given, and
// an UNSUB_TIME or CLEAN_TIME column): Mailchimp writes UNSUB_TIME in every row of its
// unsubscribed export, CLEAN_TIME in every row of its cleaned export, and LAST_CHANGED only in
// its subscribed export, whose rows carry OPTIN_TIME or CONFIRM_TIME. So a non-empty CLEAN_TIME
// is cleaned (a bounce outweighs an unsubscribe), else a non-empty UNSUB_TIME is unsubscribed,
// else a row with an OPTIN_TIME or CONFIRM_TIME in a file with a LAST_CHANGED column (a sheet
// merging the subscribed export with the others) is subscribed. Any other row is refused
// (*RowError, code status_unknown, naming UNSUB_TIME, else CLEAN_TIME): reading it as a
// withdrawal would record one the person never made, and as subscribed would invent consent.
func (m *mailchimpMapper) rowStatus(rec Record) (Status, error) {
	get := func(key string) string { return cell(rec.Fields, m.cols[key]) }
	switch {
	case get(colCleanTime) != "":
		return StatusCleaned, nil
	case get(colUnsubTime) != "":
		return StatusUnsubscribed, nil
	case m.cols[colLastChanged] >= 0 && (get(FieldOptinTime) != "" || get(FieldConfirmTime) != ""):
		return StatusSubscribed, nil
	}
	col := m.Column(colUnsubTime)
	if col == "" {
		col = m.Column(colCleanTime)
	}
	return StatusNone, &RowError{Line: rec.Line, Field: col, Code: "status_unknown", Reason: col + ": " + msgStatusUnknown}
}

// msgStatusUnknown is the reason of rowStatus's refusal, after the column.
const msgStatusUnknown = "empty, and nothing else in the row gives its status (a CLEAN_TIME, or an OPTIN_TIME or CONFIRM_TIME in a file with the subscribed export's LAST_CHANGED column): give it in a Status column"
