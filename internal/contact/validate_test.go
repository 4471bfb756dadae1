package contact

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

var today = time.Date(2027, 3, 15, 10, 0, 0, 0, time.UTC)

func validator() *Service {
	return &Service{Now: func() time.Time { return today }, DefaultRegion: "SE"}
}

// TestValidateNormalizes: what Create stores is the one normalization of every path (DESIGN §4:
// e-mail trimmed, invisible characters stripped, lower-cased, IDNA domain as A-label; phone as
// E.164), names trimmed of white space including no-break spaces, tags without blanks or
// repeats, an empty address dropped and a country code in capitals (ISO 3166-1 alpha-2).
func TestValidateNormalizes(t *testing.T) {
	c, err := validator().validate(Input{
		Email:     " \u00a0Lena.Holm@Exämple.SE\u200b ",
		Phone:     "08-123 456 78",
		FirstName: "\u00a0Lena\u202f", LastName: " Holm\t", Company: " Holm AB ", Title: "\ufeffCTO",
		Birthday: " 1990-12-31 ", Notes: "  line one\nline two  ", Source: " api ",
		Address: &Address{City: " Lund ", Country: " se "},
		Tags:    []string{" vip ", "vip", "", "\u00a0", "news"},
		Custom:  map[string]string{" shoe size ": "42"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Contact{
		Kind: KindContact, Email: "lena.holm@xn--exmple-cua.se", Phone: "+46812345678",
		FirstName: "Lena", LastName: "Holm", Company: "Holm AB", Title: "CTO",
		Birthday: "1990-12-31", Notes: "line one\nline two", Source: "api",
		Address: &Address{City: "Lund", Country: "SE"},
		Tags:    []string{"vip", "news"},
		Custom:  map[string]string{"shoe size": "42"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("validate =\n%+v\nwant\n%+v", c, want)
	}
	if c, err := validator().validate(Input{Phone: "+46 70 123 45 67", Address: &Address{Street: " \u00a0"}}); err != nil || c.Address != nil || c.Email != "" || c.Phone != "+46701234567" {
		t.Errorf("a phone-only contact with a blank address: %+v, %v; want the phone alone, no address", c, err)
	}
}

// TestValidateRefuses: every refusal is Invalid and names the field and a stable reason, so a
// client can point at it (DESIGN §5); none echoes the value (STYLE: personal data never in
// error messages).
func TestValidateRefuses(t *testing.T) {
	long := strings.Repeat("x", 201)
	many := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[strings.Repeat("k", i+1)] = "v"
		}
		return m
	}
	tags := make([]string, 101)
	for i := range tags {
		tags[i] = strings.Repeat("t", i+1)
	}
	for _, tc := range []struct {
		name          string
		in            Input
		field, reason string
	}{
		{"unknown kind", Input{Kind: "customer", Email: "a@example.org"}, "kind", "invalid_kind"},
		{"neither e-mail nor phone", Input{FirstName: "Nobody"}, "email", "required"},
		{"blank e-mail and phone", Input{Email: " ", Phone: "\t"}, "email", "required"},
		{"no @ sign", Input{Email: "secret-name.example.org"}, "email", ""},
		{"not a phone number", Input{Phone: "call me"}, "phone", ""},
		{"first name over 200 characters", Input{Email: "a@example.org", FirstName: long}, "first_name", "too_long"},
		{"200 characters of å are fine, 201 are not", Input{Email: "a@example.org", LastName: strings.Repeat("å", 201)}, "last_name", "too_long"},
		{"control character in the company", Input{Email: "a@example.org", Company: "A\x00B"}, "company", "control_character"},
		{"invalid UTF-8 in the title", Input{Email: "a@example.org", Title: "\xff"}, "title", "invalid_utf8"},
		{"notes over 10000 characters", Input{Email: "a@example.org", Notes: strings.Repeat("n", 10001)}, "notes", "too_long"},
		{"source over 200 characters", Input{Email: "a@example.org", Source: long}, "source", "too_long"},
		{"birthday in another format", Input{Email: "a@example.org", Birthday: "31.12.1990"}, "birthday", "invalid_date"},
		{"birthday tomorrow", Input{Email: "a@example.org", Birthday: "2027-03-16"}, "birthday", "invalid_date"},
		{"birthday before 1900", Input{Email: "a@example.org", Birthday: "1899-12-31"}, "birthday", "invalid_date"},
		{"street over 200 characters", Input{Email: "a@example.org", Address: &Address{Street: long}}, "address.street", "too_long"},
		{"control character in the country", Input{Email: "a@example.org", Address: &Address{Country: "S\x01E"}}, "address.country", "control_character"},
		{"101 tags", Input{Email: "a@example.org", Tags: tags}, "tags", "too_many"},
		{"a tag over 200 characters", Input{Email: "a@example.org", Tags: []string{long}}, "tags", "too_long"},
		{"101 custom fields", Input{Email: "a@example.org", Custom: many(101)}, "custom", "too_many"},
		{"a blank custom key", Input{Email: "a@example.org", Custom: map[string]string{" ": "v"}}, "custom", "empty_key"},
		{"a custom value over 10000 characters", Input{Email: "a@example.org", Custom: map[string]string{"k": strings.Repeat("v", 10001)}}, "custom.k", "too_long"},
		{"a control character in an external id", Input{Email: "a@example.org", ExternalIDs: map[string]string{"crm": "1\x02"}}, "external_ids.crm", "control_character"},
	} {
		_, err := validator().validate(tc.in)
		e := apperr.As(err)
		if e == nil || e.Kind != apperr.Invalid || e.Field != tc.field || tc.reason != "" && e.Reason != tc.reason {
			t.Errorf("%s: %v; want Invalid on %s (%s)", tc.name, err, tc.field, tc.reason)
			continue
		}
		if strings.Contains(e.Message, "secret-name") || strings.Contains(e.Message, "call me") {
			t.Errorf("%s: the message %q echoes the input", tc.name, e.Message)
		}
	}
	if _, err := validator().validate(Input{Email: "a@example.org", Birthday: "1900-01-01"}); err != nil {
		t.Errorf("a birthday on 1900-01-01: %v; want it accepted", err)
	}
	if _, err := validator().validate(Input{Email: "a@example.org", Birthday: "2027-03-15"}); err != nil {
		t.Errorf("a birthday today: %v; want it accepted", err)
	}
}

// TestPatchClearAndApply: a null in a JSON Merge Patch clears the field (RFC 7396 §2), an
// absent member leaves it as it is, and a field that is not a contact field is refused by name.
func TestPatchClearAndApply(t *testing.T) {
	var p Patch
	if !p.IsZero() {
		t.Error("an empty patch is not zero")
	}
	for _, f := range []string{"email", "first_name", "last_name", "phone", "company", "title", "birthday", "notes", "address", "custom", "tags", "external_ids", "version"} {
		if err := p.Clear(f); err != nil {
			t.Errorf("Clear(%s) = %v", f, err)
		}
	}
	if p.IsZero() {
		t.Error("a patch clearing every field is zero")
	}
	if e := apperr.As(p.Clear("id")); e == nil || e.Field != "id" || e.Reason != "unknown_field" {
		t.Errorf("Clear(id) = %v; want Invalid unknown_field naming id", e)
	}
	in := Input{Email: "a@example.org", FirstName: "Ann", LastName: "Ek", Phone: "+46701234567", Company: "Ek AB", Title: "CEO",
		Birthday: "1980-01-01", Notes: "n", Address: &Address{City: "Lund"}, Custom: map[string]string{"k": "v"},
		Tags: []string{"t"}, ExternalIDs: map[string]string{"crm": "1"}}
	p.Email = nil // keep the address
	p.apply(&in)
	want := Input{Email: "a@example.org", Address: &Address{}, Custom: map[string]string{}, Tags: []string{}, ExternalIDs: map[string]string{}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("after clearing all but the e-mail: %+v; want %+v", in, want)
	}
	c, err := validator().validate(in)
	if err != nil || c.Address != nil || c.Custom != nil || c.Tags != nil || c.ExternalIDs != nil {
		t.Errorf("validated: %+v, %v; want the cleared fields absent", c, err)
	}

	title := "CTO"
	in = Input{Email: "a@example.org", Title: "CEO", Company: "Ek AB"}
	(&Patch{Title: &title}).apply(&in)
	if in.Title != "CTO" || in.Company != "Ek AB" {
		t.Errorf("a patch of the title: %+v; want the title changed, the company kept", in)
	}
}

// TestChangedAndPresentFields: the audit events of an update name the fields that changed and
// those of a read the fields held, in column order, never their values (GDPR Art. 5(2), DESIGN
// §2 "what: field names, never values").
func TestChangedAndPresentFields(t *testing.T) {
	a := &Contact{Email: "a@example.org", FirstName: "Ann", Tags: []string{"x"}}
	b := &Contact{Email: "a@example.org", FirstName: "Anna", Tags: []string{"x", "y"}, Address: &Address{City: "Lund"}}
	if got, want := changedFields(a, b), []string{"first_name", "address", "tags"}; !slices.Equal(got, want) {
		t.Errorf("changedFields = %q; want %q", got, want)
	}
	if got := changedFields(a, a); got != nil {
		t.Errorf("changedFields of equal contacts = %q; want none", got)
	}
	if got, want := presentFields(b), []string{"email", "first_name", "address", "tags"}; !slices.Equal(got, want) {
		t.Errorf("presentFields = %q; want %q", got, want)
	}
	if got := presentFields(&Contact{Address: &Address{}}); got != nil {
		t.Errorf("presentFields of an empty contact = %q; want none", got)
	}
}

// TestFieldsRoundTrip: every sealed column reads back into the field it was taken from, so a
// decrypted contact is the contact that was stored (DESIGN §4: every personal field sealed).
func TestFieldsRoundTrip(t *testing.T) {
	c := Contact{Email: "a@example.org", FirstName: "Ann", LastName: "Ek", Phone: "+46701234567", Company: "Ek AB", Title: "CEO",
		Address: &Address{Street: "Storgatan 1", City: "Umeå", PostalCode: "903 25", Region: "AC", Country: "SE"}, Birthday: "1980-01-01",
		Notes: "n", Custom: map[string]string{"k": "v"}, Tags: []string{"t"}, ExternalIDs: map[string]string{"crm": "1"}}
	plain := c.plainFields()
	if len(plain) != len(Columns) {
		t.Errorf("plainFields has %d columns; want every one of %d", len(plain), len(Columns))
	}
	var back Contact
	for col, v := range plain {
		if err := back.setField(col, v); err != nil {
			t.Fatalf("setField(%s): %v", col, err)
		}
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", back, c)
	}
	if err := back.setField("custom", []byte("{")); err == nil {
		t.Error("setField of a broken custom column: no error")
	}
}
