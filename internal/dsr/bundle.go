package dsr

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
)

// ContactSchema is the JSON Schema (draft 2020-12) of contact.json in the access bundle, which is
// the contact object of the API: the json tags of contact.Contact, formats (uuid, idn-email,
// date, date-time), the E.164 phone pattern, the kind enum lead|contact, string maps for custom
// and external_ids, and no other properties. It is shipped in the bundle as contact.schema.json so
// that the person, or the controller they take the data to, can check the file (GDPR Art. 20(1):
// a structured, commonly used and machine-readable format). Read-only.
//
//go:embed contact.schema.json
var ContactSchema []byte

// The access bundle's manifest identifies its layout with these values.
const (
	BundleFormat  = "tillit-access-bundle" // manifest "format"
	BundleVersion = 1                      // manifest "version"; raised on an incompatible change
)

// Bundle is everything the access and portability bundle holds about one person (GDPR Art. 15:
// the personal data and the information about its processing; Art. 20: the data in a structured,
// machine-readable format). It is built from already-loaded, decrypted data; WriteZip renders it.
type Bundle struct {
	Contact     contact.Contact     // decrypted
	Consents    []consent.Current   // current state per purpose
	History     []consent.Event     // every consent event, with its evidence
	Objections  []consent.Objection // objections in force (GDPR Art. 21)
	Suppressed  *Suppression        // nil when the address is not on the suppression list
	Requests    []BundleRequest     // this person's data subject requests, with what they wrote
	Disclosures []Disclosure        // transfers to third parties (GDPR Art. 15(1)(c))
	Audit       []audit.Event       // audit events about the contact: who read or changed which fields, when
	GeneratedAt time.Time           // the bundle's time; also every file's modification time
	Controller  string              // the controller's name (GDPR Art. 4(7))
	RequestID   string              // the data subject request this answers; "" when staff exported directly
}

// Suppression is the person's entry on the suppression list: why the address is never mailed
// again ("unsubscribed", "bounced", "complained", "erased", "objected") and since when (UTC).
type Suppression struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// BundleRequest is one of the person's data subject requests as the bundle gives it back: the
// request with the address it came from, what the person wrote and the reason we last gave (an
// extension or a rejection), each empty when there was none or its key was destroyed.
type BundleRequest struct {
	Request
	Email   string `json:"email,omitempty"`
	Details string `json:"details,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Disclosure is one transfer of the contact's data to a third party (a processor or another
// controller): which fields went to whom, for which purpose, when (UTC). GDPR Art. 15(1)(c) gives
// the person the right to know the recipients.
type Disclosure struct {
	ID            string    `json:"id"`
	ProcessorID   string    `json:"processor_id"`
	ProcessorName string    `json:"processor_name"`
	Purpose       string    `json:"purpose"`
	Fields        []string  `json:"fields"`
	DisclosedAt   time.Time `json:"disclosed_at"`
	// Allowed is false for a disclosure that was asked for and refused; Reason says why
	// ("allowed" when it went out).
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

// WriteZip writes the bundle to w as one zip archive holding, in this order:
//
//	manifest.json        {format: "tillit-access-bundle", version: 1, generated_at, controller,
//	                     contact_id, request_id, gdpr: ["Art. 15", "Art. 20"], files: [{name,
//	                     media_type, sha256 (hex of the file's bytes), bytes, description}]},
//	                     listing every other file
//	contact.json         the contact as the API returns it (the json tags of contact.Contact),
//	                     valid against contact.schema.json
//	contact.csv          RFC 4180: a header row and one row, CRLF line ends (see below)
//	contact.vcf          one vCard 4.0 (RFC 6350), as VCard renders it
//	consents.json        {"current": [consent.Current], "history": [consent.Event],
//	                     "objections": [consent.Objection]}
//	suppression.json     {"suppressed": bool, "reason": string, "since": RFC 3339 or null}
//	requests.json        [BundleRequest]
//	disclosures.json     [Disclosure]; [] when there are none, never null
//	audit.json           [{seq, at, actor: {kind, id, role}, action, object_kind, object_id,
//	                     fields, purpose}], without the hash chain
//	contact.schema.json  ContactSchema
//	README.txt           what each file is and the person's rights, in plain English (GDPR
//	                     Art. 12(1)), naming Art. 15, Art. 20 and the right to complain (Art. 77)
//
// contact.csv has the columns id, kind, email, first_name, last_name, phone, company, title,
// street, city, postal_code, region, country, birthday, notes, tags (joined with "; "), source,
// created_at, updated_at, then custom.<key> per custom field and external_ids.<key> per external
// id, keys sorted. Against CSV formula injection (OWASP), a cell starting with =, +, -, @, a tab
// or a carriage return gets a leading single quote, except a phone number in E.164 form: it
// always starts with + and, being a plus and digits only, cannot hold a formula, so quoting it
// would only corrupt the number. A carriage return inside a cell is not kept (encoding/csv
// writes line breaks as CRLF); contact.json holds the exact text.
//
// The output is deterministic: the same bundle gives the same bytes, every file dated
// GeneratedAt. Errors are those of w, or Internal when GeneratedAt or the contact id is unset;
// they never hold personal data.
func (b *Bundle) WriteZip(w io.Writer) error {
	if b.GeneratedAt.IsZero() {
		return apperr.New(apperr.Internal, "access bundle: generated_at is not set")
	}
	if b.Contact.ID == "" {
		return apperr.New(apperr.Internal, "access bundle: the contact has no id")
	}
	files, err := b.files()
	if err != nil {
		return err
	}
	m := manifest{
		Format: BundleFormat, Version: BundleVersion, GeneratedAt: b.GeneratedAt.UTC(),
		Controller: b.Controller, ContactID: b.Contact.ID, RequestID: b.RequestID,
		GDPR: []string{"Art. 15", "Art. 20"}, Files: make([]manifestFile, len(files)),
	}
	for i, f := range files {
		sum := sha256.Sum256(f.data)
		m.Files[i] = manifestFile{Name: f.name, MediaType: f.mediaType, SHA256: hex.EncodeToString(sum[:]), Bytes: len(f.data), Description: f.description}
	}
	mb, err := marshal(m)
	if err != nil {
		return fmt.Errorf("access bundle: manifest.json: %w", err)
	}
	files = append([]bundleFile{{name: "manifest.json", data: mb}}, files...)

	zw := zip.NewWriter(w)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: b.GeneratedAt.UTC()}
		h.SetMode(0o644)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("access bundle: %s: %w", f.name, err)
		}
		if _, err := fw.Write(f.data); err != nil {
			return fmt.Errorf("access bundle: %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("access bundle: %w", err)
	}
	return nil
}

// bundleFile is one file of the archive, rendered.
type bundleFile struct {
	name, mediaType, description string
	data                         []byte
}

type manifest struct {
	Format      string         `json:"format"`
	Version     int            `json:"version"`
	GeneratedAt time.Time      `json:"generated_at"`
	Controller  string         `json:"controller"`
	ContactID   string         `json:"contact_id"`
	RequestID   string         `json:"request_id"`
	GDPR        []string       `json:"gdpr"`
	Files       []manifestFile `json:"files"`
}

type manifestFile struct {
	Name        string `json:"name"`
	MediaType   string `json:"media_type"`
	SHA256      string `json:"sha256"`
	Bytes       int    `json:"bytes"`
	Description string `json:"description"`
}

type consentsFile struct {
	Current    []consent.Current   `json:"current"`
	History    []consent.Event     `json:"history"`
	Objections []consent.Objection `json:"objections"`
}

type suppressionFile struct {
	Suppressed bool       `json:"suppressed"`
	Reason     string     `json:"reason"`
	Since      *time.Time `json:"since"`
}

type auditEntry struct {
	Seq        int64      `json:"seq"`
	At         time.Time  `json:"at"`
	Actor      auditActor `json:"actor"`
	Action     string     `json:"action"`
	ObjectKind string     `json:"object_kind"`
	ObjectID   string     `json:"object_id"`
	Fields     []string   `json:"fields"`
	Purpose    string     `json:"purpose"`
}

type auditActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Role string `json:"role"`
}

// files renders every file but the manifest, in archive order.
func (b *Bundle) files() ([]bundleFile, error) {
	sup := suppressionFile{}
	if s := b.Suppressed; s != nil {
		since := s.Since.UTC()
		sup = suppressionFile{Suppressed: true, Reason: s.Reason, Since: &since}
	}
	disclosures := make([]Disclosure, len(b.Disclosures))
	for i, d := range b.Disclosures {
		d.DisclosedAt = d.DisclosedAt.UTC()
		d.Fields = nonNil(d.Fields)
		disclosures[i] = d
	}
	entries := make([]auditEntry, len(b.Audit))
	for i, e := range b.Audit {
		entries[i] = auditEntry{
			Seq: e.Seq, At: e.At.UTC(), Actor: auditActor{Kind: e.Actor.Kind, ID: e.Actor.ID, Role: e.Actor.Role},
			Action: e.Action, ObjectKind: e.ObjectKind, ObjectID: e.ObjectID, Fields: nonNil(e.Fields), Purpose: e.Purpose,
		}
	}
	var files []bundleFile
	addJSON := func(name, description string, v any) error {
		data, err := marshal(v)
		if err != nil {
			return fmt.Errorf("access bundle: %s: %w", name, err)
		}
		files = append(files, bundleFile{name: name, mediaType: "application/json", description: description, data: data})
		return nil
	}
	if err := addJSON("contact.json", "The personal data we hold about you, as one JSON object (schema: contact.schema.json).", b.Contact); err != nil {
		return nil, err
	}
	csvData, err := contactCSV(b.Contact)
	if err != nil {
		return nil, err
	}
	files = append(files,
		bundleFile{name: "contact.csv", mediaType: "text/csv; charset=utf-8; header=present", description: "The same data as a spreadsheet (RFC 4180): a header row and one row.", data: csvData},
		bundleFile{name: "contact.vcf", mediaType: "text/vcard; charset=utf-8", description: "Your contact details as a vCard 4.0 (RFC 6350) for an address book.", data: VCard(b.Contact)},
	)
	for _, f := range []struct {
		name, description string
		v                 any
	}{
		{"consents.json", "Your consent for each purpose now, and every consent event with its evidence.", consentsFile{Current: nonNil(b.Consents), History: nonNil(b.History), Objections: nonNil(b.Objections)}},
		{"suppression.json", "Whether your address is on our do-not-mail list, why and since when.", sup},
		{"requests.json", "The data protection requests you made to us, what you wrote and where each stands.", nonNil(b.Requests)},
		{"disclosures.json", "Each time your data was passed to a third party: to whom, which fields, why and when.", disclosures},
		{"audit.json", "Who read or changed your data, which fields (never their values), and when.", entries},
	} {
		if err := addJSON(f.name, f.description, f.v); err != nil {
			return nil, err
		}
	}
	files = append(files,
		bundleFile{name: "contact.schema.json", mediaType: "application/schema+json", description: "JSON Schema (draft 2020-12) describing contact.json.", data: ContactSchema},
		bundleFile{name: "README.txt", mediaType: "text/plain; charset=utf-8", description: "What each file holds and your rights, in plain English.", data: b.readme()},
	)
	return files, nil
}

// marshal encodes v as indented JSON with a final newline, leaving <, > and & as they are.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// nonNil returns s, or an empty slice when s is nil, so that JSON shows [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// e164 is a phone number in E.164 form, as contact.Contact.Phone holds it.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// contactCSV renders c as RFC 4180 CSV: a header row and one row, CRLF line ends.
func contactCSV(c contact.Contact) ([]byte, error) {
	a := contact.Address{}
	if c.Address != nil {
		a = *c.Address
	}
	header := []string{"id", "kind", "email", "first_name", "last_name", "phone", "company", "title",
		"street", "city", "postal_code", "region", "country", "birthday", "notes", "tags", "source", "created_at", "updated_at"}
	row := []string{c.ID, string(c.Kind), c.Email, c.FirstName, c.LastName, c.Phone, c.Company, c.Title,
		a.Street, a.City, a.PostalCode, a.Region, a.Country, c.Birthday, c.Notes, strings.Join(c.Tags, "; "), c.Source,
		csvTime(c.CreatedAt), csvTime(c.UpdatedAt)}
	for _, prefix := range []string{"custom.", "external_ids."} {
		m := c.Custom
		if prefix == "external_ids." {
			m = c.ExternalIDs
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			header = append(header, prefix+k)
			row = append(row, m[k])
		}
	}
	for i, v := range row {
		if header[i] == "phone" && e164.MatchString(v) {
			continue // a plus and digits only: see WriteZip
		}
		row[i] = defuse(v)
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true
	if err := cw.WriteAll([][]string{header, row}); err != nil {
		return nil, fmt.Errorf("access bundle: contact.csv: %w", err)
	}
	return buf.Bytes(), nil
}

// defuse prefixes a cell a spreadsheet could run as a formula with a single quote (OWASP, CSV
// injection): one starting with =, +, -, @, a tab or a carriage return.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// readme is README.txt: the bundle explained to the person in plain English (GDPR Art. 12(1)).
func (b *Bundle) readme() []byte {
	var s strings.Builder
	controller := b.Controller
	if controller == "" {
		controller = "the controller"
	}
	fmt.Fprintf(&s, "YOUR PERSONAL DATA HELD BY %s\n\n", strings.ToUpper(controller))
	fmt.Fprintf(&s, "This archive holds a copy of the personal data %s holds about you, made on %s (UTC).\n", controller, b.GeneratedAt.UTC().Format("2 January 2006 at 15:04"))
	if b.RequestID != "" {
		fmt.Fprintf(&s, "It answers your request with reference %s.\n", b.RequestID)
	}
	s.WriteString(`
You have the right to a copy of your personal data and to information about how it is used
(GDPR Article 15, right of access), and to receive it in a structured, commonly used and
machine-readable form that you can take to another organisation (GDPR Article 20, right to data
portability). The JSON, CSV and vCard files below are that form.

THE FILES

manifest.json
    A list of the other files with their size and SHA-256 checksum, so you or another
    organisation can check that nothing was changed or lost.

contact.json
    Everything we hold in your contact record: name, e-mail address, phone number, company, job
    title, postal address, date of birth, notes, tags, custom fields, your ids in other systems,
    whether processing is restricted, and when the record was created and last changed.

contact.schema.json
    A technical description (JSON Schema) of contact.json, for software that imports it.

contact.csv
    The same data as contact.json, as a spreadsheet with a header row and one row. Tags are
    separated by "; ". A value that starts with =, +, -, @ or a tab is shown with a single
    quote (') in front so that a spreadsheet program does not run it as a formula; the quote is
    not part of your data. Your phone number is shown as it is.

contact.vcf
    Your contact details as an electronic business card (vCard) for an address book or phone.

consents.json
    Under "current", for each purpose (such as a newsletter) whether you have given, refused or
    withdrawn your consent, or on which other legal ground we process your data for it. Under
    "history", every consent event we recorded: when, how (for example a web form or a
    confirmation e-mail), which version of our policies applied, and the evidence we kept, such
    as the IP address and browser used.

suppression.json
    Whether your e-mail address is on our do-not-mail list, why (for example because you
    unsubscribed) and since when. The list keeps only a scrambled form (a keyed hash) of the
    address, so that we never mail you again even after your other data is erased.

requests.json
    The data protection requests you made to us (access, correction, erasure, ...), when we
    received them, when they are due and where each stands, with the address each came from,
    what you wrote and the reason we gave for an extension or a refusal.

disclosures.json
    Each time we passed your data to another organisation: to whom, which fields, for which
    purpose and when. An empty list ([]) means we have passed on nothing.

audit.json
    Our log of who read or changed your record and when: the kind of user or system, its id,
    the action and the names of the fields involved (never their values).

YOUR OTHER RIGHTS

You can ask us to correct data that is wrong (Article 16), to erase it (Article 17), to restrict
its use (Article 18) or object to it (Article 21), and you can withdraw a consent at any time
(Article 7(3)). Our privacy notice explains why we process your data, how long we keep it and
who receives it.

If you think we have not handled your data lawfully, you have the right to lodge a complaint
with a data protection supervisory authority, in particular in the EU country where you live,
work or where the problem took place (GDPR Article 77).
`)
	return []byte(s.String())
}
