package importer

import (
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// mapAll reads in with NewReader and maps every record; it returns the mapped rows and the
// reasons of refused rows by line.
func mapAll(t *testing.T, in io.Reader, newMapper func(header []string) (Mapper, error)) ([]Row, map[int]string) {
	t.Helper()
	r, err := NewReader(in, Dialect{})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	m, err := newMapper(r.Header())
	if err != nil {
		t.Fatalf("new mapper: %v", err)
	}
	var rows []Row
	errs := map[int]string{}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return rows, errs
		}
		var re *RowError
		if err == nil {
			var row Row
			row, err = m.Map(rec)
			if err == nil {
				rows = append(rows, row)
				continue
			}
		}
		if !errors.As(err, &re) {
			t.Fatalf("unexpected error: %v", err)
		}
		errs[re.Line] = re.Reason
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestMailchimpFixtures(t *testing.T) {
	tests := []struct {
		file   string
		status Status
		emails []string
		check  map[int]Row // by index in the file's rows
	}{
		{
			file: "subscribed.csv", status: StatusSubscribed,
			emails: []string{"s1@example.com", "s2@example.com", "s3@example.com", "s4@example.com", "s5@example.com"},
			check: map[int]Row{
				0: {Line: 2, Email: "s1@example.com", Status: StatusSubscribed,
					OptinTime: utc("2023-04-21 11:16:57"), ConfirmTime: utc("2023-04-21 11:16:57")},
				4: {Line: 6, Email: "s5@example.com", FirstName: "Dolor", LastName: "Simet", Company: "Lorem Co.",
					Status: StatusSubscribed, OptinTime: utc("2018-02-05 19:28:22"), ConfirmTime: utc("2018-02-05 19:28:22"),
					Tags: []string{"Lorem Editors"}},
			},
		},
		{
			file: "unsubscribed.csv", status: StatusUnsubscribed,
			emails: []string{"u1@example.com", "u2@example.com", "u3@example.com", "u4@example.com", "u5@example.com"},
			check: map[int]Row{
				0: {Line: 2, Email: "u1@example.com", FirstName: "Dolor", Status: StatusUnsubscribed,
					OptinTime: utc("2018-02-12 10:54:27"), ConfirmTime: utc("2018-02-12 10:54:27"),
					ChangedTime: utc("2018-07-23 12:19:27"), ChangedColumn: "UNSUB_TIME"},
				2: {Line: 4, Email: "u3@example.com", FirstName: "Lorem", LastName: "Ipsum", Company: "Example foundation",
					Status: StatusUnsubscribed, OptinTime: utc("2020-12-25 13:35:34"), ConfirmTime: utc("2020-12-25 13:35:34"),
					ChangedTime: utc("2022-12-05 21:01:47"), ChangedColumn: "UNSUB_TIME", Tags: []string{"Lorem Editors"}},
			},
		},
		{
			file: "cleaned.csv", status: StatusCleaned,
			emails: []string{"c1@example.com", "c2@example.com", "c3@example.com", "c4@example.com", "c5@example.com"},
			check: map[int]Row{
				0: {Line: 2, Email: "c1@example.com", FirstName: "Dolor", Status: StatusCleaned,
					OptinTime: utc("2018-02-05 19:28:23"), ConfirmTime: utc("2018-02-05 19:28:23"),
					ChangedTime: utc("2020-03-23 17:30:05"), ChangedColumn: "CLEAN_TIME", Tags: []string{"Editors"}},
				1: {Line: 3, Email: "c2@example.com", FirstName: "Simet", LastName: "Lut", Status: StatusCleaned,
					OptinTime: utc("2018-02-12 10:54:27"), ConfirmTime: utc("2018-02-12 10:54:27"),
					ChangedTime: utc("2020-06-25 15:12:06"), ChangedColumn: "CLEAN_TIME", Tags: []string{"Editors"}},
				4: {Line: 6, Email: "c5@example.com", Status: StatusCleaned,
					OptinTime: utc("2018-02-12 10:54:27"), ConfirmTime: utc("2018-02-12 10:54:27"),
					ChangedTime: utc("2020-03-25 17:40:24"), ChangedColumn: "CLEAN_TIME", Tags: []string{"Editors"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(externalTestdata(t, "mailchimp-ghost", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, errs := mapAll(t, f, func(h []string) (Mapper, error) { return NewMailchimpMapper(h, StatusNone) })
			if len(errs) != 0 {
				t.Errorf("row errors: %v", errs)
			}
			var emails []string
			for i, row := range rows {
				emails = append(emails, row.Email)
				if row.Status != tt.status || row.Line != i+2 {
					t.Errorf("row %d: line %d, status %q; want line %d, %q", i, row.Line, row.Status, i+2, tt.status)
				}
				if row.OptinTime.IsZero() || row.OptinTime.Location() != time.UTC {
					t.Errorf("row %d: OptinTime %v, want a UTC time", i, row.OptinTime)
				}
			}
			if !reflect.DeepEqual(emails, tt.emails) {
				t.Errorf("emails = %q, want %q", emails, tt.emails)
			}
			for i, want := range tt.check {
				if i < len(rows) && !reflect.DeepEqual(rows[i], want) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want)
				}
			}
		})
	}
}

func TestMailchimpMapper(t *testing.T) {
	const header = "Email Address,First Name,OPTIN_TIME,LAST_CHANGED,LEID,EUID,TAGS"
	tests := []struct {
		name   string
		in     string
		status Status
		rows   []Row
		errs   map[int]string
	}{
		{
			name: "ids, tags, changed time",
			in:   header + "\n a@example.com ,Ann,,2024-01-02 03:04:05,123,abc,\"\"\"A\"\",\"\"B, C\"\"\"\n",
			rows: []Row{{Line: 2, Email: "a@example.com", FirstName: "Ann", Status: StatusSubscribed,
				ChangedTime: utc("2024-01-02 03:04:05"), ChangedColumn: "LAST_CHANGED", Tags: []string{"A", "B, C"},
				ExternalIDs: map[string]string{"mailchimp_leid": "123", "mailchimp_euid": "abc"}}},
		},
		{
			name: "one id only",
			in:   header + "\na@example.com,,,,,abc,\n",
			rows: []Row{{Line: 2, Email: "a@example.com", Status: StatusSubscribed,
				ExternalIDs: map[string]string{"mailchimp_euid": "abc"}}},
		},
		{
			name:   "status given",
			in:     header + "\na@example.com,,,,,,\n",
			status: StatusPending,
			rows:   []Row{{Line: 2, Email: "a@example.com", Status: StatusPending}},
		},
		{
			name: "empty e-mail, bad time, shifted row",
			in: header + "\n ,Ann,,,,,\na@example.com,SECRET,05/02/2018 19:28,,,,\nb@example.com,,,2024-13-01 00:00:00,,,\n" +
				"c@example.com,,,,,,,SECRET\nd@example.com,,,,,,,,\n",
			rows: []Row{{Line: 6, Email: "d@example.com", Status: StatusSubscribed}},
			errs: map[int]string{
				2: "Email Address: empty",
				3: "OPTIN_TIME: not a time of the form 2006-01-02 15:04:05",
				4: "LAST_CHANGED: not a time of the form 2006-01-02 15:04:05",
				5: "row has 8 cells, header has 7",
			},
		},
		{
			// Found by a fresh-user trial: b, whose UNSUB_TIME is empty, was read as unsubscribed at
			// LAST_CHANGED, a withdrawal the person never made.
			name: "status from the row's UNSUB_TIME, change time from UNSUB_TIME first",
			in:   "email address,unsub_time,LAST_CHANGED\na@example.com,2020-01-01 00:00:00,2021-01-01 00:00:00\nb@example.com,,2021-01-01 00:00:00\n",
			rows: []Row{
				{Line: 2, Email: "a@example.com", Status: StatusUnsubscribed, ChangedTime: utc("2020-01-01 00:00:00"), ChangedColumn: "unsub_time"},
			},
			errs: map[int]string{3: "unsub_time: " + msgStatusUnknown},
		},
		{
			// Found by a fresh-user trial: Mailchimp's three exports merged into one sheet. ccc
			// (subscribed) was withdrawn, eee (cleaned) only withdrawn on the import's purpose.
			name: "merged exports: status per row",
			in: "Email Address,OPTIN_TIME,CONFIRM_TIME,LAST_CHANGED,UNSUB_TIME,CLEAN_TIME\n" +
				"ccc@example.com,2020-01-01 00:00:00,2020-01-01 00:05:00,2021-01-01 00:00:00,,\n" +
				"ddd@example.com,2020-01-01 00:00:00,,,2022-01-01 00:00:00,\n" +
				"eee@example.com,,,,,2023-01-01 00:00:00\n" +
				"fff@example.com,,,,2022-01-01 00:00:00,2023-01-01 00:00:00\n" +
				"ggg@example.com,,,2021-01-01 00:00:00,,\n",
			rows: []Row{
				{Line: 2, Email: "ccc@example.com", Status: StatusSubscribed, OptinTime: utc("2020-01-01 00:00:00"), ConfirmTime: utc("2020-01-01 00:05:00"),
					ChangedTime: utc("2021-01-01 00:00:00"), ChangedColumn: "LAST_CHANGED"},
				{Line: 3, Email: "ddd@example.com", Status: StatusUnsubscribed, OptinTime: utc("2020-01-01 00:00:00"),
					ChangedTime: utc("2022-01-01 00:00:00"), ChangedColumn: "UNSUB_TIME"},
				{Line: 4, Email: "eee@example.com", Status: StatusCleaned, ChangedTime: utc("2023-01-01 00:00:00"), ChangedColumn: "CLEAN_TIME"},
				{Line: 5, Email: "fff@example.com", Status: StatusCleaned, ChangedTime: utc("2023-01-01 00:00:00"), ChangedColumn: "CLEAN_TIME"},
			},
			// No opt-in or confirmation: nothing shows ggg subscribed.
			errs: map[int]string{6: "UNSUB_TIME: " + msgStatusUnknown},
		},
		{
			// An unsubscribed export has no LAST_CHANGED: a row without UNSUB_TIME is not read as
			// subscribed for its OPTIN_TIME.
			name: "unsubscribed export, row without UNSUB_TIME",
			in:   "Email Address,OPTIN_TIME,CONFIRM_TIME,UNSUB_TIME\na@example.com,2020-01-01 00:00:00,2020-01-01 00:00:00,\n",
			errs: map[int]string{2: "UNSUB_TIME: " + msgStatusUnknown},
		},
		{
			// Found by a fresh-user trial: a row cut off before its UNSUB_TIME was stored as
			// subscribed with the import's time as consent time.
			name: "row cut off before a proof column",
			in: "Email Address,First Name,OPTIN_TIME,UNSUB_TIME,TAGS\na@example.com,Ann,2020-01-01 00:00:00\n" +
				"b@example.com,Bo,2020-01-01 00:00:00,2021-01-01 00:00:00\n",
			rows: []Row{{Line: 3, Email: "b@example.com", FirstName: "Bo", Status: StatusUnsubscribed, OptinTime: utc("2020-01-01 00:00:00"),
				ChangedTime: utc("2021-01-01 00:00:00"), ChangedColumn: "UNSUB_TIME"}},
			errs: map[int]string{2: "UNSUB_TIME: missing, the row has 3 cells and the header 5 (a row cut off or broken by a line break outside quotes)"},
		},
		{
			name: "status inferred from CLEAN_TIME",
			in:   "Email Address,CLEAN_TIME\na@example.com,2020-01-01 00:00:00\n",
			rows: []Row{{Line: 2, Email: "a@example.com", Status: StatusCleaned, ChangedTime: utc("2020-01-01 00:00:00"), ChangedColumn: "CLEAN_TIME"}},
		},
		{
			name: "status column per row",
			in: "Email Address,MEMBER_STATUS,UNSUB_TIME,CLEAN_TIME,LAST_CHANGED\n" +
				"a@example.com,Cleaned,2020-01-01 00:00:00,2021-01-01 00:00:00,2022-01-01 00:00:00\n" +
				"b@example.com,,2020-01-01 00:00:00,,\n" +
				"c@example.com,PENDING,2020-01-01 00:00:00,,2022-01-01 00:00:00\n" +
				"d@example.com,SECRET,,,\n",
			rows: []Row{
				{Line: 2, Email: "a@example.com", Status: StatusCleaned, ChangedTime: utc("2021-01-01 00:00:00"), ChangedColumn: "CLEAN_TIME"},
				{Line: 3, Email: "b@example.com", Status: StatusUnsubscribed, ChangedTime: utc("2020-01-01 00:00:00"), ChangedColumn: "UNSUB_TIME"},
				{Line: 4, Email: "c@example.com", Status: StatusPending, ChangedTime: utc("2022-01-01 00:00:00"), ChangedColumn: "LAST_CHANGED"},
			},
			errs: map[int]string{5: "MEMBER_STATUS: not subscribed, unsubscribed, cleaned or pending"},
		},
		{
			name: "synonym columns, status column",
			in:   "Email Address,Phone Number,Title,Zip,Notes,Status\na@example.com,+47 1,CEO,0150,hi,\n",
			rows: []Row{{Line: 2, Email: "a@example.com", Phone: "+47 1", Title: "CEO", PostalCode: "0150", Notes: "hi",
				Status: StatusSubscribed}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, errs := mapAll(t, strings.NewReader(tt.in), func(h []string) (Mapper, error) { return NewMailchimpMapper(h, tt.status) })
			if !reflect.DeepEqual(rows, tt.rows) {
				t.Errorf("rows:\n got %+v\nwant %+v", rows, tt.rows)
			}
			if tt.errs == nil {
				tt.errs = map[int]string{}
			}
			if !reflect.DeepEqual(errs, tt.errs) {
				t.Errorf("row errors = %v, want %v", errs, tt.errs)
			}
			for _, reason := range errs {
				if strings.Contains(reason, "SECRET") || strings.Contains(reason, "05/02") {
					t.Errorf("row error %q leaks a cell value", reason)
				}
			}
		})
	}
}

func TestNewMailchimpMapperErrors(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		status Status
		field  string
		reason string
	}{
		{"no e-mail column", []string{"Email", "First Name"}, "", "file", "missing_column"},
		{"unknown status", []string{"Email Address"}, "archived", "status", "invalid_status"},
		{"subscribed given for an unsubscribed export", []string{"Email Address", "UNSUB_TIME"}, StatusSubscribed, "status", "status_conflict"},
		{"pending given for a cleaned export", []string{"Email Address", "CLEAN_TIME"}, StatusPending, "status", "status_conflict"},
		// Found by a fresh-user trial: a bare list imported as mailchimp got consent for everyone.
		{"bare list without status or times", []string{"Email Address", "First Name"}, "", "status", "status_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMailchimpMapper(tt.header, tt.status)
			e := apperr.As(err)
			if m != nil || e == nil || e.Kind != apperr.Invalid || e.Field != tt.field || e.Reason != tt.reason {
				t.Fatalf("NewMailchimpMapper = %v, %#v; want Invalid %s/%s", m, err, tt.field, tt.reason)
			}
		})
	}
	// The restrictive direction is allowed: an unsubscribed status for a cleaned export.
	m, err := NewMailchimpMapper([]string{"Email Address", "CLEAN_TIME"}, StatusUnsubscribed)
	if err != nil {
		t.Fatal(err)
	}
	row, err := m.Map(Record{Line: 2, Fields: []string{"a@example.com", ""}})
	if err != nil || row.Status != StatusUnsubscribed {
		t.Fatalf("Map = %+v, %v; want unsubscribed", row, err)
	}
}
