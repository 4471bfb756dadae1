package importer

import (
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/normalize"
)

// An optional field never costs a person: a cell the contact rules refuse (a phone number that
// cannot be normalized, a name over the length limit, a control character in the notes, …) is
// left out of the stored contact with a warning that names the file's column, and the row is
// stored with its consent proof. Only the address, the status and the consent evidence can
// refuse a row. (The API, where one person's record is sent and can be fixed, refuses such a
// field with a 400 naming it instead.)

// maxLeftOut bounds the fields one row can lose (each retry of contact.Service.Prepare clears
// one): more than the contact has optional fields.
const maxLeftOut = 16

// prepareContact prepares the contact of row like contact.Service.Prepare, leaving out every
// optional field the contact rules refuse, each with a warning. err is the refusal of a field
// the row cannot do without (the address), or a failure that is not about the row.
func (im *Importer) prepareContact(in contact.Input, row Row, mapper Mapper) (*contact.Prepared, []RowReport, error) {
	region, warnings := im.phoneRegion(row, mapper)
	if in.Phone != "" {
		p, err := normalize.Phone(in.Phone, region)
		if e := apperr.As(err); e != nil && e.Kind == apperr.Invalid {
			warnings = append(warnings, phoneLeftOut(row.Line, e, mapper, len(warnings) > 0))
			p = ""
		} else if err != nil {
			return nil, warnings, err
		}
		in.Phone = p
	}
	for range maxLeftOut {
		prep, err := im.Contacts.Prepare(in)
		e := apperr.As(err)
		if err == nil || e == nil || e.Kind != apperr.Invalid {
			return prep, warnings, err
		}
		field, ok := leaveOut(&in, e.Field)
		if !ok {
			return nil, warnings, err
		}
		col, reason := relabel(e, mapper.Column(field))
		warnings = append(warnings, RowReport{Line: row.Line, Field: col, Code: e.Reason, Reason: leftOutReason(col, reason)})
	}
	return nil, warnings, apperr.Invalidf("", "too_many_left_out", "too many fields of the row were left out")
}

// leaveOut clears the optional field of in that the contact rules named (an apperr.Error Field:
// "phone", "first_name", "address.postal_code", "external_ids.mailchimp_leid", …) and returns
// the Row field (or Mailchimp column key) it came from; ok is false for a field the row cannot
// do without.
func leaveOut(in *contact.Input, field string) (rowField string, ok bool) {
	switch {
	case field == "phone":
		in.Phone = ""
	case field == "first_name":
		in.FirstName = ""
	case field == "last_name":
		in.LastName = ""
	case field == "company":
		in.Company = ""
	case field == "title":
		in.Title = ""
	case field == "notes":
		in.Notes = ""
	case field == "tags":
		in.Tags = nil
	case strings.HasPrefix(field, "address"):
		in.Address = nil
		return FieldPostalCode, true
	case strings.HasPrefix(field, "external_ids."):
		key := strings.TrimPrefix(field, "external_ids.")
		ids := make(map[string]string, len(in.ExternalIDs))
		for k, v := range in.ExternalIDs {
			if k != key {
				ids[k] = v
			}
		}
		in.ExternalIDs = ids
		return strings.TrimPrefix(key, "mailchimp_"), true // colLEID, colEUID
	case field == "external_ids":
		in.ExternalIDs = nil
		return colLEID, true
	default:
		return "", false
	}
	return field, true
}

// relabel names the file's column col instead of the rule's field in a refusal: "phone: …"
// becomes "Phone Number: …". With col "" it keeps the field.
func relabel(e *apperr.Error, col string) (field, reason string) {
	if col == "" {
		return e.Field, e.Message
	}
	if rest, ok := strings.CutPrefix(e.Message, e.Field+":"); ok && e.Field != "" {
		return col, col + ":" + rest
	}
	return col, col + ": " + e.Message
}

// leftOutReason turns "Col: why" into "Col: left out, why".
func leftOutReason(col, reason string) string {
	if rest, ok := strings.CutPrefix(reason, col+": "); ok {
		return col + ": left out, " + rest
	}
	return col + ": left out, " + reason
}

// phoneRegion is the region a row's phone number without a country code is read in: the row's
// own country (Mailchimp's CC column), else TILLIT_DEFAULT_REGION. A CC cell that is not an
// ISO 3166-1 alpha-2 code gives no region and a warning naming the column (code
// invalid_country, without the value): the row names a country, only not a known one, so
// falling back to the default region would guess the person's number.
func (im *Importer) phoneRegion(row Row, mapper Mapper) (string, []RowReport) {
	switch {
	case row.Country == "":
		return im.Contacts.DefaultRegion, nil
	case normalize.ValidRegion(row.Country):
		return row.Country, nil
	}
	cc := mapper.Column(FieldCountry)
	return "", []RowReport{{Line: row.Line, Field: cc, Code: "invalid_country",
		Reason: cc + ": left out, not a country code (ISO 3166-1 alpha-2, such as DE)"}}
}

// phoneLeftOut is the warning for a phone number that could not be normalized. A national
// number without a region names where a region comes from: the row's country column (or that
// its cell is not a country code, badCountry) and the TILLIT_DEFAULT_REGION setting.
func phoneLeftOut(line int, e *apperr.Error, mapper Mapper, badCountry bool) RowReport {
	col, reason := relabel(e, mapper.Column(FieldPhone))
	if e.Reason == "region_required" {
		cc := mapper.Column(FieldCountry)
		switch {
		case badCountry:
			reason = col + ": a number without a country code needs a region, and the row's " + cc + " is not a country code: correct it or write the number with + and its country code"
		case cc != "":
			reason = col + ": a number without a country code needs a region: give the row's country in " + cc + " or set TILLIT_DEFAULT_REGION (ISO 3166-1 alpha-2, such as DE)"
		default:
			reason = col + ": a number without a country code needs a region: set TILLIT_DEFAULT_REGION (ISO 3166-1 alpha-2, such as DE) or write the number with + and its country code"
		}
	}
	return RowReport{Line: line, Field: col, Code: e.Reason, Reason: leftOutReason(col, reason)}
}
