package importer

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
)

func TestGenericMapper(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		mapping map[string]string
		rows    []Row
		errs    map[int]string
	}{
		{
			name: "German synonyms, Windows-1252, semicolons",
			in: "E-Mail;Vorname;Nachname;Telefon;Firma;Position;PLZ;Tags\r\n" +
				"m@example.de;J\xFCrgen;M\xFCller;+49 30 1;ACME GmbH;CTO;10115;\"Kunde; VIP, Kunde\"\r\n",
			rows: []Row{{Line: 2, Email: "m@example.de", FirstName: "Jürgen", LastName: "Müller", Phone: "+49 30 1",
				Company: "ACME GmbH", Title: "CTO", PostalCode: "10115", Tags: []string{"Kunde", "VIP"}}},
		},
		{
			name: "English synonyms and field names",
			in: "Email Address,Given Name,Family Name,Mobile,Organization,Job Title,Postcode,Note,status,Optin_Time,OPTIN IP,confirm-time,confirm_ip\n" +
				"a@example.com,Ann,Lee,1,Org,Dev,N1,hi,Unsubscribed,2018-02-05T20:28:22+01:00,192.0.2.1,2018-02-05 19:30:00,192.0.2.2\n",
			rows: []Row{{Line: 2, Email: "a@example.com", FirstName: "Ann", LastName: "Lee", Phone: "1", Company: "Org",
				Title: "Dev", PostalCode: "N1", Notes: "hi", Status: StatusUnsubscribed,
				OptinTime: utc("2018-02-05 19:28:22"), OptinIP: "192.0.2.1",
				ConfirmTime: utc("2018-02-05 19:30:00"), ConfirmIP: "192.0.2.2"}},
		},
		{
			name:    "explicit mapping wins and takes its column from synonyms",
			in:      "Kontakt,Mail,Company,Name\na@example.com,b@example.com,Note text,Ann\n",
			mapping: map[string]string{"email": " kontakt ", "notes": "COMPANY", "first_name": "Name", "phone": ""},
			rows:    []Row{{Line: 2, Email: "a@example.com", Notes: "Note text", FirstName: "Ann"}},
		},
		{
			name:    "empty column leaves a field out",
			in:      "Email,Phone\na@example.com,123\n",
			mapping: map[string]string{"phone": ""},
			rows:    []Row{{Line: 2, Email: "a@example.com"}},
		},
		{
			name: "synonym preference: email before mail",
			in:   "Mail,Email\nm@example.com,e@example.com\n",
			rows: []Row{{Line: 2, Email: "e@example.com"}},
		},
		{
			name: "row errors",
			in: "email,status,optin_time,Signed up\n" +
				",subscribed,,\n" +
				"a@example.com,SECRET,,\n" +
				"b@example.com,,05.02.2018,\n" +
				"c@example.com,,,SECRET,x\n" +
				"d@example.com\n" +
				"e@example.com,CLEANED,2018-02-05 19:28:22,,,\n",
			rows: []Row{
				{Line: 6, Email: "d@example.com"},
				{Line: 7, Email: "e@example.com", Status: StatusCleaned, OptinTime: utc("2018-02-05 19:28:22")},
			},
			errs: map[int]string{
				2: "email: empty",
				3: "status: not subscribed, unsubscribed, cleaned or pending",
				4: "optin_time: not a time (RFC 3339 or 2006-01-02 15:04:05)",
				5: "row has 5 cells, header has 4",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, errs := mapAll(t, strings.NewReader(tt.in), func(h []string) (Mapper, error) { return NewGenericMapper(h, tt.mapping) })
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
				if strings.Contains(reason, "SECRET") || strings.Contains(reason, "05.02") {
					t.Errorf("row error %q leaks a cell value", reason)
				}
			}
		})
	}
}

func TestNewGenericMapperErrors(t *testing.T) {
	tests := []struct {
		name    string
		header  []string
		mapping map[string]string
		reason  string
		message string
	}{
		{"no e-mail column", []string{"Name", "Phone"}, nil, "missing_column", "no e-mail column found: map one with email=COLUMN"},
		{"e-mail left out", []string{"Email"}, map[string]string{"email": ""}, "missing_column", "no e-mail column found: map one with email=COLUMN"},
		{"mapped column absent", []string{"Email"}, map[string]string{"first_name": "Vorname"}, "unknown_column", `mapping first_name: the header has no column "Vorname"`},
		{"unknown field", []string{"Email"}, map[string]string{"birthday": "Email"}, "unknown_field",
			`mapping: "birthday" is not a field (email, first_name, last_name, phone, company, title, postal_code, notes, tags, status, optin_time, optin_ip, confirm_time, confirm_ip)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewGenericMapper(tt.header, tt.mapping)
			e := apperr.As(err)
			if m != nil || e == nil || e.Kind != apperr.Invalid || e.Field != "mapping" || e.Reason != tt.reason || e.Message != tt.message {
				t.Fatalf("NewGenericMapper = %v, %#v; want Invalid mapping/%s %q", m, err, tt.reason, tt.message)
			}
		})
	}
}

func TestParseMapping(t *testing.T) {
	tests := []struct {
		in     string
		want   map[string]string
		reason string
	}{
		{in: "email=E-Mail,first_name=Vorname", want: map[string]string{"email": "E-Mail", "first_name": "Vorname"}},
		{in: "", want: map[string]string{}},
		{in: " Email = Mail , First-Name=Vorname,Postal Code=PLZ,", want: map[string]string{"email": "Mail", "first_name": "Vorname", "postal_code": "PLZ"}},
		{in: "phone=", want: map[string]string{"phone": ""}},
		{in: "notes=a=b", want: map[string]string{"notes": "a=b"}},
		{in: "email", reason: "invalid_mapping"},
		{in: "birthday=Geburtstag", reason: "unknown_field"},
		{in: "email=a,EMAIL=b", reason: "duplicate_field"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMapping(tt.in)
			if tt.reason != "" {
				if e := apperr.As(err); got != nil || e == nil || e.Kind != apperr.Invalid || e.Field != "mapping" || e.Reason != tt.reason {
					t.Fatalf("ParseMapping = %v, %#v; want Invalid mapping/%s", got, err, tt.reason)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseMapping = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
