package dsr

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/contact"
)

// VCard renders a contact as one vCard 4.0 (RFC 6350) for the access and portability bundle
// (GDPR Art. 15, 20): UID (urn:uuid), FN (§6.2.1, required: the name, else the address, else the
// id), N, EMAIL, TEL (tel: URI, §6.4.1), ORG, TITLE, ADR, BDAY (§4.3.1 basic date), NOTE,
// CATEGORIES (the tags) and REV. Values are escaped (§3.4: backslash, comma, semicolon, newline)
// and lines folded at 75 octets without splitting a UTF-8 character (§3.2). Custom fields and
// external ids are in the bundle's JSON and CSV, not here.
//
// Written here rather than with emersion/go-vcard: that library does not escape a semicolon
// inside an N or ADR component, so "Öberg; Lind" as a family name would not survive.
func VCard(c contact.Contact) []byte {
	var b bytes.Buffer
	line := func(s string) { fold(&b, s) }
	line("BEGIN:VCARD")
	line("VERSION:4.0")
	line("UID:urn:uuid:" + c.ID)
	fn := strings.TrimSpace(c.FirstName + " " + c.LastName)
	if fn == "" {
		fn = c.Email
	}
	if fn == "" {
		fn = c.ID
	}
	line("FN:" + escape(fn))
	line("N:" + escape(c.LastName) + ";" + escape(c.FirstName) + ";;;")
	if c.Email != "" {
		line("EMAIL:" + escape(c.Email))
	}
	if c.Phone != "" {
		line("TEL;VALUE=uri:tel:" + c.Phone) // E.164: digits and a plus only
	}
	if c.Company != "" {
		line("ORG:" + escape(c.Company))
	}
	if c.Title != "" {
		line("TITLE:" + escape(c.Title))
	}
	if a := c.Address; a != nil && *a != (contact.Address{}) {
		// ADR: post office box; extended address; street; locality; region; postal code; country (§6.3.1).
		line("ADR:;;" + strings.Join([]string{escape(a.Street), escape(a.City), escape(a.Region), escape(a.PostalCode), escape(a.Country)}, ";"))
	}
	if c.Birthday != "" {
		line("BDAY:" + strings.ReplaceAll(c.Birthday, "-", ""))
	}
	if c.Notes != "" {
		line("NOTE:" + escape(c.Notes))
	}
	if len(c.Tags) > 0 {
		tags := make([]string, len(c.Tags))
		for i, t := range c.Tags {
			tags[i] = escape(t)
		}
		line("CATEGORIES:" + strings.Join(tags, ","))
	}
	if !c.UpdatedAt.IsZero() {
		line("REV:" + c.UpdatedAt.UTC().Format("20060102T150405Z"))
	}
	line("END:VCARD")
	return b.Bytes()
}

// escape escapes a text value or component (RFC 6350 §3.4).
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// fold writes one content line, folded after at most 75 octets per physical line (the first
// included, continuation lines counting their leading space), ending in CRLF (RFC 6350 §3.2).
func fold(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
