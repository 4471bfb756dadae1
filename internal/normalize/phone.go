package normalize

import (
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/tillit/tillit/internal/apperr"
)

// maxE164Digits is the longest international number, country code included (ITU-T E.164 §6.1).
const maxE164Digits = 15

// The refusal messages. They name the field and the rule, never the value.
const (
	msgPhoneEmpty          = "phone: the number is empty"
	msgPhoneUnparseable    = "phone: the value is not a telephone number"
	msgPhoneInvalid        = "phone: the number is not a valid number in its country (or has an extension)"
	msgPhoneRegionRequired = "phone: a number without a country code needs a default region (the TILLIT_DEFAULT_REGION setting); write it with + and its country code"
)

// Phone returns the telephone number s in ITU-T E.164 form: "+", the country calling code and the
// national significant number, digits only, at most 15 digits ("+4930123456").
//
// s may carry any punctuation and spacing that libphonenumber accepts ("+49 (30) 123-456",
// "tel:+49-30-123456"); the invisible characters that [Email] strips are stripped here too.
// A number starting with + or 00 is international; for other numbers the country comes from
// defaultRegion, an ISO 3166-1 alpha-2 code ("DE", "us"; case does not matter), which may be ""
// when every accepted number is international. A region's own international prefix (011 in
// "US") is also understood. The number must be valid for its country under the libphonenumber
// metadata (phonenumbers.IsValidNumber) and at most 15 digits long (ITU-T E.164 §6.1; the
// metadata admits some longer ones). Numbers with an extension are refused, because E.164 has
// no place for one and dropping it would make two numbers one. Letters are read as on a phone
// keypad, as libphonenumber does ("+1 800 FLOWERS").
//
// Phone(Phone(s, r), "") == Phone(s, r).
//
// Errors: an *apperr.Error of kind apperr.Invalid with Field "phone" and Reason one of "empty",
// "unparseable", "invalid_number" and "region_required" (a national number while defaultRegion
// is "" or not a region libphonenumber knows). The message never contains the number.
func Phone(s, defaultRegion string) (string, error) {
	s = strings.TrimSpace(stripInvisible(s))
	if s == "" {
		return "", phoneError("empty", msgPhoneEmpty)
	}
	if rest, ok := strings.CutPrefix(s, "00"); ok {
		s = "+" + rest
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if !phonenumbers.GetSupportedRegions()[region] {
		region = ""
	}
	if region == "" && national(s) {
		return "", phoneError("region_required", msgPhoneRegionRequired)
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", phoneError("unparseable", msgPhoneUnparseable)
	}
	if n.GetExtension() != "" || !phonenumbers.IsValidNumber(n) {
		return "", phoneError("invalid_number", msgPhoneInvalid)
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	if len(e164) > 1+maxE164Digits {
		// libphonenumber's metadata admits some longer numbers (German ranges, for one).
		return "", phoneError("invalid_number", msgPhoneInvalid)
	}
	return e164, nil
}

// phoneError returns the refusal for field "phone".
func phoneError(reason, msg string) error {
	return &apperr.Error{Kind: apperr.Invalid, Field: "phone", Reason: reason, Message: msg}
}

// national reports whether the first plus sign or digit in s is a digit, that is whether s
// lacks a country code. Plus signs may be ASCII or full-width, as libphonenumber accepts both.
// A value with neither is not national; parsing refuses it as unparseable.
func national(s string) bool {
	for _, r := range s {
		switch {
		case r == '+' || r == '\uFF0B':
			return false
		case unicode.IsDigit(r):
			return true
		}
	}
	return false
}

// ValidRegion reports whether region is an ISO 3166-1 alpha-2 region the phone number library
// knows (for TILLIT_DEFAULT_REGION). It is case-sensitive: "DE", not "de".
func ValidRegion(region string) bool {
	return phonenumbers.GetCountryCodeForRegion(region) != 0
}
