package importer

import (
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// mailchimpMapper maps a Mailchimp audience export (one of the per-status files Mailchimp writes:
// subscribed, unsubscribed, cleaned). Fields hold column indexes, -1 when the column is absent.
type mailchimpMapper struct {
	header []string
	status Status // the file's status, given or inferred

	email, firstName, lastName, phone, company, title, postalCode, notes int
	optinTime, optinIP, confirmTime, confirmIP                           int
	unsubTime, cleanTime, lastChanged                                    int
	leid, euid, tags, rowStatus                                          int
}

// NewMailchimpMapper returns a Mapper for a Mailchimp audience export with this header.
//
// Columns are matched case-insensitively after trimming ("Email Address", "First Name",
// "Last Name", "Phone Number", "Company", "Position", "ZIP Code", "NOTES", "OPTIN_TIME",
// "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "UNSUB_TIME", "CLEAN_TIME", "LAST_CHANGED", "LEID",
// "EUID", "TAGS", "Status" or "MEMBER_STATUS"); the first of equal names wins, unknown columns
// are ignored.
//
// status is the file's status. StatusNone infers it from the columns Mailchimp writes per
// status: UNSUB_TIME → unsubscribed, else CLEAN_TIME → cleaned, else subscribed. A non-empty
// Status or MEMBER_STATUS cell overrides the file's status for its row.
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
	col := func(names ...string) int {
		for _, n := range names {
			if i := columnIndex(header, n); i >= 0 {
				return i
			}
		}
		return -1
	}
	m := &mailchimpMapper{
		header:      header,
		email:       col("Email Address"),
		firstName:   col("First Name"),
		lastName:    col("Last Name"),
		phone:       col("Phone Number", "Phone"),
		company:     col("Company"),
		title:       col("Position", "Title", "Job Title"),
		postalCode:  col("ZIP Code", "Zip", "Postal Code"),
		notes:       col("NOTES"),
		optinTime:   col("OPTIN_TIME"),
		optinIP:     col("OPTIN_IP"),
		confirmTime: col("CONFIRM_TIME"),
		confirmIP:   col("CONFIRM_IP"),
		unsubTime:   col("UNSUB_TIME"),
		cleanTime:   col("CLEAN_TIME"),
		lastChanged: col("LAST_CHANGED"),
		leid:        col("LEID"),
		euid:        col("EUID"),
		tags:        col("TAGS"),
		rowStatus:   col("Status", "MEMBER_STATUS"),
	}
	if m.email < 0 {
		return nil, apperr.Invalidf("file", "missing_column", `the header has no "Email Address" column`)
	}
	switch {
	case st == StatusNone && m.unsubTime >= 0:
		st = StatusUnsubscribed
	case st == StatusNone && m.cleanTime >= 0:
		st = StatusCleaned
	case st == StatusNone && m.rowStatus < 0 && m.optinTime < 0 && m.confirmTime < 0 && m.lastChanged < 0:
		// Not a Mailchimp members export: nothing in the file says its people subscribed, and
		// recording consent for a bare list would mail people who never asked.
		return nil, apperr.Invalidf("status", "status_required",
			"status: the file has no status column and no OPTIN_TIME, CONFIRM_TIME, LAST_CHANGED, UNSUB_TIME or CLEAN_TIME column, so nothing shows what its people agreed to; give the status (subscribed only if each of them opted in)")
	case st == StatusNone:
		st = StatusSubscribed
	case (st == StatusSubscribed || st == StatusPending) && (m.unsubTime >= 0 || m.cleanTime >= 0):
		return nil, apperr.Invalidf("status", "status_conflict",
			"status %s contradicts the file's UNSUB_TIME or CLEAN_TIME column", st)
	}
	m.status = st
	return m, nil
}

// Map implements Mapper. A row is refused (*RowError) for an empty e-mail ("email: empty"), a
// time not of the form 2006-01-02 15:04:05, an unknown status value, or non-empty cells beyond
// the header's width.
func (m *mailchimpMapper) Map(rec Record) (Row, error) {
	if err := checkWidth(rec, len(m.header)); err != nil {
		return Row{}, err
	}
	f := rec.Fields
	row := Row{
		Line:       rec.Line,
		Email:      cell(f, m.email),
		FirstName:  cell(f, m.firstName),
		LastName:   cell(f, m.lastName),
		Phone:      cell(f, m.phone),
		Company:    cell(f, m.company),
		Title:      cell(f, m.title),
		PostalCode: cell(f, m.postalCode),
		Notes:      cell(f, m.notes),
		Status:     m.status,
		OptinIP:    cell(f, m.optinIP),
		ConfirmIP:  cell(f, m.confirmIP),
	}
	if row.Email == "" {
		return Row{}, &RowError{Line: rec.Line, Field: FieldEmail, Code: "required", Reason: "email: empty"}
	}
	if s := cell(f, m.rowStatus); s != "" {
		st, ok := parseStatus(s)
		if !ok {
			return Row{}, &RowError{Line: rec.Line, Field: m.header[m.rowStatus], Code: "invalid_status", Reason: m.header[m.rowStatus] + ": not subscribed, unsubscribed, cleaned or pending"}
		}
		row.Status = st
	}

	var err error
	if row.OptinTime, err = m.time(rec, m.optinTime); err != nil {
		return Row{}, err
	}
	if row.ConfirmTime, err = m.time(rec, m.confirmTime); err != nil {
		return Row{}, err
	}
	// The change time: the column of the row's status first, then LAST_CHANGED.
	changed := []int{m.lastChanged, m.unsubTime, m.cleanTime}
	switch row.Status {
	case StatusUnsubscribed:
		changed = []int{m.unsubTime, m.lastChanged, m.cleanTime}
	case StatusCleaned:
		changed = []int{m.cleanTime, m.lastChanged, m.unsubTime}
	}
	for _, i := range changed {
		if cell(f, i) != "" {
			if row.ChangedTime, err = m.time(rec, i); err != nil {
				return Row{}, err
			}
			break
		}
	}

	row.Tags = splitTags(cell(f, m.tags), ",")
	if leid, euid := cell(f, m.leid), cell(f, m.euid); leid != "" || euid != "" {
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

// time parses the cell of column i as a Mailchimp UTC time; zero when absent or empty.
func (m *mailchimpMapper) time(rec Record, i int) (time.Time, error) {
	t, ok := parseTime(cell(rec.Fields, i), mailchimpTime)
	if !ok {
		return time.Time{}, &RowError{Line: rec.Line, Field: m.header[i], Code: "invalid_time", Reason: m.header[i] + ": not a time of the form " + mailchimpTime}
	}
	return t, nil
}
