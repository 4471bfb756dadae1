package importer

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
)

// TestUnmappedWhateverTheOptions: found by a marketer's trial, a status option hid the generic
// file's unmapped columns, and a Mailchimp file never listed its own (MEMBER_RATING, LATITUDE,
// …) though their cells were not imported either.
func TestUnmappedWhateverTheOptions(t *testing.T) {
	generic, err := NewGenericMapper([]string{"Email", "Given", "Shoe size"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Mapper{generic, statusOverride{generic, StatusSubscribed}} {
		if got := m.Unmapped(); !reflect.DeepEqual(got, []string{"Given", "Shoe size"}) {
			t.Errorf("%T.Unmapped = %q; want Given, Shoe size", m, got)
		}
	}
	mc, err := NewMailchimpMapper([]string{"Email Address", "Phone Number", "MEMBER_RATING", "OPTIN_TIME", "LATITUDE", "CC", "REGION", " "}, StatusNone)
	if err != nil {
		t.Fatal(err)
	}
	if got := mc.Unmapped(); !reflect.DeepEqual(got, []string{"MEMBER_RATING", "LATITUDE", "REGION"}) {
		t.Errorf("mailchimp Unmapped = %q; want MEMBER_RATING, LATITUDE, REGION (CC is the phone's region)", got)
	}
}

// TestColumnNamesTheFile: reports name the file's own header, not the internal field.
func TestColumnNamesTheFile(t *testing.T) {
	mc, err := NewMailchimpMapper([]string{" Email Address ", "CONFIRM_TIME", "Phone", "cc"}, StatusSubscribed)
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{FieldEmail: "Email Address", FieldConfirmTime: "CONFIRM_TIME", FieldPhone: "Phone",
		FieldCountry: "cc", FieldOptinTime: "", "no such field": ""} {
		if got := mc.Column(field); got != want {
			t.Errorf("mailchimp Column(%q) = %q; want %q", field, got, want)
		}
	}
	g, err := NewGenericMapper([]string{"E-Mail", "Handy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Column(FieldEmail) != "E-Mail" || g.Column(FieldPhone) != "Handy" || g.Column(FieldNotes) != "" || g.Column(colLEID) != "" {
		t.Errorf("generic Column: email %q, phone %q, notes %q, leid %q", g.Column(FieldEmail), g.Column(FieldPhone), g.Column(FieldNotes), g.Column(colLEID))
	}
}

// TestBadUTF8CostsOnlyItsCell: a cell that is not UTF-8 refuses the row only when the row needs
// it (the address, the status, the consent proof); in another column it is left out with a
// warning naming the column, and in a column nothing reads it is ignored.
func TestBadUTF8CostsOnlyItsCell(t *testing.T) {
	in := "Email Address,First Name,OPTIN_TIME,MEMBER_RATING,CC\n" +
		"a@example.com,J\xFCrgen,2020-01-01 00:00:00,\xFF,DE\n" +
		"b@example.com,Bo,2020-01-01 00:00:00\xFF,,\n" +
		"c\xFF@example.com,Cy,2020-01-01 00:00:00,,\n" +
		"d@example.com,Ren\xc3\xa9e Bj\xc3\xb6rk L\xc3\xb8kke \xc3\x85s \xc3\x89lo\xc3\xafse,2020-01-01 00:00:00,,se\n" // mostly UTF-8: read as UTF-8
	rows, errs := mapAll(t, strings.NewReader(in), func(h []string) (Mapper, error) { return NewMailchimpMapper(h, StatusNone) })
	wantErrs := map[int]string{
		3: "OPTIN_TIME: not valid UTF-8; if the file is Windows-1252, import it with encoding windows-1252",
		4: "Email Address: not valid UTF-8; if the file is Windows-1252, import it with encoding windows-1252",
	}
	if !reflect.DeepEqual(errs, wantErrs) {
		t.Errorf("row errors = %v; want %v", errs, wantErrs)
	}
	if len(rows) != 2 {
		t.Fatalf("rows = %+v; want lines 2 and 5", rows)
	}
	a, d := rows[0], rows[1]
	wantWarn := []RowReport{{Line: 2, Field: "First Name", Code: "invalid_utf8", Reason: "First Name: left out, not valid UTF-8; if the file is Windows-1252, import it with encoding windows-1252"}}
	if a.Email != "a@example.com" || a.FirstName != "" || a.Country != "DE" || a.OptinTime.IsZero() || !reflect.DeepEqual(a.Warnings, wantWarn) {
		t.Errorf("line 2 = %+v; want the row, its name left out with one warning (MEMBER_RATING ignored)", a)
	}
	if d.FirstName != "Renée Björk Løkke Ås Éloïse" || d.Country != "SE" || d.Warnings != nil {
		t.Errorf("line 5 = %+v; want the name, country SE, no warning", d)
	}
}

// TestLeaveOut: each optional field the contact rules can refuse is cleared and named by its Row
// field (the report turns it into the file's column); the address is not optional.
func TestLeaveOut(t *testing.T) {
	full := func() contact.Input {
		return contact.Input{Email: "a@example.com", Phone: "+4930123456", FirstName: "A", LastName: "B", Company: "C", Title: "T", Notes: "N",
			Tags: []string{"x"}, Address: &contact.Address{PostalCode: "1"}, ExternalIDs: map[string]string{"mailchimp_leid": "1", "mailchimp_euid": "2"}}
	}
	for _, tc := range []struct {
		field, rowField string
		cleared         func(contact.Input) bool
	}{
		{"phone", FieldPhone, func(in contact.Input) bool { return in.Phone == "" }},
		{"first_name", FieldFirstName, func(in contact.Input) bool { return in.FirstName == "" }},
		{"last_name", FieldLastName, func(in contact.Input) bool { return in.LastName == "" }},
		{"company", FieldCompany, func(in contact.Input) bool { return in.Company == "" }},
		{"title", FieldTitle, func(in contact.Input) bool { return in.Title == "" }},
		{"notes", FieldNotes, func(in contact.Input) bool { return in.Notes == "" }},
		{"tags", FieldTags, func(in contact.Input) bool { return in.Tags == nil }},
		{"address.postal_code", FieldPostalCode, func(in contact.Input) bool { return in.Address == nil }},
		{"external_ids.mailchimp_euid", colEUID, func(in contact.Input) bool {
			return in.ExternalIDs["mailchimp_euid"] == "" && in.ExternalIDs["mailchimp_leid"] == "1"
		}},
	} {
		in := full()
		got, ok := leaveOut(&in, tc.field)
		if !ok || got != tc.rowField || !tc.cleared(in) || in.Email == "" {
			t.Errorf("leaveOut(%s) = %q, %v, input %+v; want %q and the field cleared", tc.field, got, ok, in, tc.rowField)
		}
	}
	in := full()
	if _, ok := leaveOut(&in, "email"); ok || in.Email == "" {
		t.Errorf("leaveOut(email) = ok; the address is not optional")
	}
}

// TestPhoneWarningNamesSettingAndColumn: a national number without a region says where a region
// comes from: TILLIT_DEFAULT_REGION and, in a Mailchimp file, the CC column.
func TestPhoneWarningNamesSettingAndColumn(t *testing.T) {
	e := &apperr.Error{Kind: apperr.Invalid, Field: "phone", Reason: "region_required", Message: "phone: a number without a country code needs a default region"}
	mc, _ := NewMailchimpMapper([]string{"Email Address", "Phone Number", "CC", "OPTIN_TIME"}, StatusNone)
	w := phoneLeftOut(7, e, mc, false)
	if w.Line != 7 || w.Field != "Phone Number" || w.Code != "region_required" ||
		w.Reason != "Phone Number: left out, a number without a country code needs a region: give the row's country in CC or set TILLIT_DEFAULT_REGION (ISO 3166-1 alpha-2, such as DE)" {
		t.Errorf("mailchimp warning = %+v", w)
	}
	// Found by a fresh-user trial: CC held XX and the warning said to give the row's country in CC.
	if w := phoneLeftOut(7, e, mc, true); w.Reason != "Phone Number: left out, a number without a country code needs a region, and the row's CC is not a country code: correct it or write the number with + and its country code" {
		t.Errorf("mailchimp warning, bad CC = %+v", w)
	}
	g, _ := NewGenericMapper([]string{"Email", "Handy"}, nil)
	if w := phoneLeftOut(3, e, g, false); w.Field != "Handy" || !strings.Contains(w.Reason, "TILLIT_DEFAULT_REGION") || !strings.Contains(w.Reason, "write the number with + and its country code") {
		t.Errorf("generic warning = %+v", w)
	}
	bad := &apperr.Error{Kind: apperr.Invalid, Field: "phone", Reason: "invalid_number", Message: "phone: the number is not a valid number in its country (or has an extension)"}
	if w := phoneLeftOut(3, bad, g, false); w.Reason != "Handy: left out, the number is not a valid number in its country (or has an extension)" {
		t.Errorf("invalid number warning = %+v", w)
	}
}
