package dsr_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-vcard"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/personal"
)

// bundleFiles is the archive's file order.
var bundleFiles = []string{"manifest.json", "contact.json", "contact.csv", "contact.vcf", "consents.json", "suppression.json",
	"requests.json", "disclosures.json", "audit.json", "contact.schema.json", "README.txt"}

var generatedAt = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

// richContact uses every field, non-ASCII names and address, and notes with a comma, a semicolon
// and a newline.
func richContact() contact.Contact {
	return contact.Contact{
		ID: "0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e5f", Kind: contact.KindContact, Email: "åsa.öberg@exempel.se",
		FirstName: "Åsa", LastName: "Öberg-Lind", Phone: "+46701234567", Company: "Norrsken AB", Title: "Inköpschef",
		Address:  &contact.Address{Street: "Storgatan 1, 2 tr", City: "Umeå", PostalCode: "903 26", Region: "Västerbotten", Country: "SE"},
		Birthday: "1985-04-12", Notes: "Met at the fair, stand 4; wants a demo.\nCall back in May.", Source: "import:mailchimp",
		Custom:      map[string]string{"shoe_size": "38", "referrer": "=HYPERLINK(\"https://evil.example\",\"x\")"},
		Tags:        []string{"vip", "fair 2026"},
		ExternalIDs: map[string]string{"mailchimp": "a1b2c3", "hubspot": "-42"},
		CreatedAt:   time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 11, 29, 10, 0, 0, 123000000, time.UTC),
		Version: 3,
	}
}

func richBundle(t *testing.T) *dsr.Bundle {
	t.Helper()
	c := richContact()
	optin, confirm := time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 14, 8, 5, 0, 0, time.UTC)
	given := consent.Event{
		ID: "ev-1", ContactID: c.ID, Purpose: "newsletter", State: consent.Given, Method: consent.MethodDoubleOptIn,
		PolicyVersions: map[string]string{"privacy_policy": "3"}, NoticeHash: strings.Repeat("ab", 32),
		OccurredAt: confirm, RecordedAt: confirm, Actor: "public",
		Evidence: consent.Evidence{IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", OptinTime: &optin, OptinIP: "192.0.2.9",
			ConfirmTime: &confirm, ConfirmIP: "192.0.2.10", FormID: "footer"},
	}
	withdrawn := consent.Event{
		ID: "ev-2", ContactID: c.ID, Purpose: "newsletter", State: consent.Withdrawn, Method: consent.MethodOneClick,
		PolicyVersions: map[string]string{"privacy_policy": "3"}, NoticeHash: strings.Repeat("ab", 32),
		OccurredAt: time.Date(2026, 10, 2, 7, 0, 0, 0, time.UTC), RecordedAt: time.Date(2026, 10, 2, 7, 0, 1, 0, time.UTC), Actor: "public",
		Evidence: consent.Evidence{IP: "2001:db8::1", UserAgent: "Mail/3.0", Note: "List-Unsubscribe-Post"},
	}
	access, err := dsr.New("req-1", dsr.TypeAccess, dsr.ChannelPortal, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := access.Verified(c.ID); err != nil {
		t.Fatal(err)
	}
	erasure, err := dsr.New("req-0", dsr.TypeErasure, dsr.ChannelEmail, time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := erasure.Reject("not the account holder", time.Date(2026, 2, 3, 9, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return &dsr.Bundle{
		Contact: c,
		Consents: []consent.Current{{Purpose: "newsletter", State: consent.Withdrawn, LawfulBasis: consent.BasisConsent,
			Method: consent.MethodOneClick, OccurredAt: withdrawn.OccurredAt, PolicyVersions: map[string]string{"privacy_policy": "3"}, EventID: "ev-2"}},
		History: []consent.Event{given, withdrawn},
		Objections: []consent.Objection{{ContactID: c.ID, Scope: consent.ScopeDirectMarketing, Method: consent.MethodStaff,
			OccurredAt: withdrawn.OccurredAt, RecordedAt: withdrawn.RecordedAt, Actor: "token:tok-7"}},
		Suppressed: &dsr.Suppression{Reason: consent.SuppressionUnsubscribed, Since: withdrawn.OccurredAt},
		Requests:   []dsr.BundleRequest{{Request: access, Email: "åsa.öberg@exempel.se", Details: "Please send me everything."}, {Request: erasure}},
		Audit: []audit.Event{{
			Seq: 41, At: time.Date(2026, 11, 21, 14, 2, 3, 0, time.UTC), Actor: audit.Actor{Kind: audit.ActorToken, ID: "tok-7", Role: "dpo"},
			Action: "contact.read", ObjectKind: "contact", ObjectID: c.ID, Fields: []string{"email", "phone"}, RequestID: "http-9",
			Purpose: "sales-followup", PrevHash: bytes.Repeat([]byte{1}, 32), Hash: bytes.Repeat([]byte{2}, 32),
		}},
		GeneratedAt: generatedAt, Controller: "Norrsken AB", RequestID: "req-1",
	}
}

type zipFile struct {
	header *zip.FileHeader
	data   []byte
}

// unzip writes b and reads the archive back: files by name, and the names in archive order.
func unzip(t *testing.T, b *dsr.Bundle) (map[string]zipFile, []string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := b.WriteZip(&buf); err != nil {
		t.Fatalf("WriteZip: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("reading the zip: %v", err)
	}
	files := map[string]zipFile{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name] = zipFile{header: &f.FileHeader, data: data}
		names = append(names, f.Name)
	}
	return files, names, buf.Bytes()
}

func decode(t *testing.T, name string, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, data)
	}
}

func TestBundleManifestListsEveryFileWithItsChecksum(t *testing.T) {
	files, names, _ := unzip(t, richBundle(t))
	if !slices.Equal(names, bundleFiles) {
		t.Fatalf("files = %q; want %q", names, bundleFiles)
	}
	for _, name := range names {
		h := files[name].header
		if !h.Modified.Equal(generatedAt) {
			t.Errorf("%s modified %v; want %v", name, h.Modified, generatedAt)
		}
		if h.Method != zip.Deflate {
			t.Errorf("%s method %d; want deflate", name, h.Method)
		}
	}
	var m struct {
		Format      string    `json:"format"`
		Version     int       `json:"version"`
		GeneratedAt time.Time `json:"generated_at"`
		Controller  string    `json:"controller"`
		ContactID   string    `json:"contact_id"`
		RequestID   string    `json:"request_id"`
		GDPR        []string  `json:"gdpr"`
		Files       []struct {
			Name        string `json:"name"`
			MediaType   string `json:"media_type"`
			SHA256      string `json:"sha256"`
			Bytes       int    `json:"bytes"`
			Description string `json:"description"`
		} `json:"files"`
	}
	decode(t, "manifest.json", files["manifest.json"].data, &m)
	if m.Format != "tillit-access-bundle" || m.Version != 1 || !m.GeneratedAt.Equal(generatedAt) || m.Controller != "Norrsken AB" ||
		m.ContactID != "0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e5f" || m.RequestID != "req-1" || !slices.Equal(m.GDPR, []string{"Art. 15", "Art. 20"}) {
		t.Errorf("manifest header = %+v", m)
	}
	if strings.Contains(string(files["manifest.json"].data), `"generated_at": "2026-12-01T09:30:00Z"`) == false {
		t.Errorf("generated_at is not RFC 3339 UTC:\n%s", files["manifest.json"].data)
	}
	mediaTypes := map[string]string{
		"contact.json": "application/json", "contact.csv": "text/csv; charset=utf-8; header=present", "contact.vcf": "text/vcard; charset=utf-8",
		"consents.json": "application/json", "suppression.json": "application/json", "requests.json": "application/json",
		"disclosures.json": "application/json", "audit.json": "application/json", "contact.schema.json": "application/schema+json",
		"README.txt": "text/plain; charset=utf-8",
	}
	var listed []string
	for _, f := range m.Files {
		listed = append(listed, f.Name)
		data := files[f.Name].data
		sum := sha256.Sum256(data)
		if f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s sha256 = %s; want %x", f.Name, f.SHA256, sum)
		}
		if f.Bytes != len(data) || f.Bytes == 0 {
			t.Errorf("%s bytes = %d; file has %d", f.Name, f.Bytes, len(data))
		}
		if f.MediaType != mediaTypes[f.Name] {
			t.Errorf("%s media type = %q; want %q", f.Name, f.MediaType, mediaTypes[f.Name])
		}
		if strings.TrimSpace(f.Description) == "" {
			t.Errorf("%s has no description", f.Name)
		}
	}
	if !slices.Equal(listed, bundleFiles[1:]) {
		t.Errorf("manifest lists %q; want %q", listed, bundleFiles[1:])
	}
	if !bytes.Equal(files["contact.schema.json"].data, dsr.ContactSchema) {
		t.Error("contact.schema.json differs from dsr.ContactSchema")
	}
}

// contactSchema compiles the embedded schema with format assertion on (off by default for draft
// 2020-12).
func contactSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(dsr.ContactSchema))
	if err != nil {
		t.Fatalf("contact.schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://github.com/tillit/tillit/schema/contact.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compiling contact.schema.json: %v", err)
	}
	return sch
}

func validate(sch *jsonschema.Schema, data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

func TestBundleContactJSONRoundTripsAndMatchesTheSchema(t *testing.T) {
	b := richBundle(t)
	files, _, _ := unzip(t, b)
	data := files["contact.json"].data
	var got contact.Contact
	decode(t, "contact.json", data, &got)
	if !reflect.DeepEqual(got, b.Contact) {
		t.Errorf("contact.json round trip:\n got %+v\nwant %+v", got, b.Contact)
	}
	api, err := json.Marshal(b.Contact)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromAPI any
	if err := json.Unmarshal(data, &fromFile); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(api, &fromAPI); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, fromAPI) {
		t.Errorf("contact.json is not the API's JSON:\n%s\n%s", data, api)
	}
	if !strings.Contains(string(data), `"notes": "Met at the fair, stand 4; wants a demo.\nCall back in May."`) {
		t.Errorf("notes not escaped as JSON expects:\n%s", data)
	}
	sch := contactSchema(t)
	if err := validate(sch, data); err != nil {
		t.Errorf("contact.json does not match contact.schema.json: %v", err)
	}
	// A lead with the fewest fields the API allows (a phone number only) is valid too.
	lead := contact.Contact{ID: "0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e60", Kind: contact.KindLead, Phone: "+358401234567",
		CreatedAt: generatedAt, UpdatedAt: generatedAt, Version: 1}
	min, _ := json.Marshal(lead)
	if err := validate(sch, min); err != nil {
		t.Errorf("minimal contact %s: %v", min, err)
	}
}

// TestContactSchemaRefuses: the schema is strict enough to fail; each change alone is refused.
func TestContactSchemaRefuses(t *testing.T) {
	sch := contactSchema(t)
	for _, tc := range []struct {
		name, at string // at: the JSON pointer the validator must blame
		edit     func(m map[string]any)
	}{
		{"extra property", "", func(m map[string]any) { m["nickname"] = "Åsa" }},
		{"bad email", "/email", func(m map[string]any) { m["email"] = "åsa.öberg at exempel.se" }},
		{"two @ in email", "/email", func(m map[string]any) { m["email"] = "a@b@exempel.se" }},
		{"upper-case email domain", "/email", func(m map[string]any) { m["email"] = "asa@Exempel.SE" }},
		{"phone without plus", "/phone", func(m map[string]any) { m["phone"] = "0701234567" }},
		{"phone with spaces", "/phone", func(m map[string]any) { m["phone"] = "+46 70 123 45 67" }},
		{"phone too long", "/phone", func(m map[string]any) { m["phone"] = "+1234567890123456" }},
		{"birthday not ISO", "/birthday", func(m map[string]any) { m["birthday"] = "12/04/1985" }},
		{"birthday not a date", "/birthday", func(m map[string]any) { m["birthday"] = "1985-02-30" }},
		{"unknown kind", "/kind", func(m map[string]any) { m["kind"] = "customer" }},
		{"id not a uuid", "/id", func(m map[string]any) { m["id"] = "42" }},
		{"missing id", "", func(m map[string]any) { delete(m, "id") }},
		{"created_at not a date-time", "/created_at", func(m map[string]any) { m["created_at"] = "yesterday" }},
		{"version zero", "/version", func(m map[string]any) { m["version"] = 0 }},
		{"address extra property", "/address", func(m map[string]any) { m["address"].(map[string]any)["planet"] = "Earth" }},
		{"custom value not a string", "/custom/shoe_size", func(m map[string]any) { m["custom"].(map[string]any)["shoe_size"] = 38 }},
		{"external id not a string", "/external_ids/hubspot", func(m map[string]any) { m["external_ids"].(map[string]any)["hubspot"] = nil }},
		{"tag not a string", "/tags/1", func(m map[string]any) { m["tags"] = []any{"vip", 7} }},
		{"duplicate tag", "/tags", func(m map[string]any) { m["tags"] = []any{"vip", "vip"} }},
		{"restricted not a boolean", "/restricted", func(m map[string]any) { m["restricted"] = "no" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := json.Marshal(richContact())
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			bad, _ := json.Marshal(m)
			err := validate(sch, bad)
			if err == nil {
				t.Fatalf("schema accepted %s", bad)
			}
			if !strings.Contains(err.Error(), "at '"+tc.at+"'") {
				t.Errorf("refused for another reason than %q: %v", tc.at, err)
			}
		})
	}
}

func TestBundleCSV(t *testing.T) {
	files, _, _ := unzip(t, richBundle(t))
	data := files["contact.csv"].data
	wantHeader := "id,kind,email,first_name,last_name,phone,company,title,street,city,postal_code,region,country,birthday,notes,tags,source,created_at,updated_at,custom.referrer,custom.shoe_size,external_ids.hubspot,external_ids.mailchimp\r\n"
	if !strings.HasPrefix(string(data), wantHeader) || !strings.HasSuffix(string(data), "\r\n") {
		t.Errorf("contact.csv does not start with the header and CRLF or end in CRLF:\n%q", data)
	}
	if strings.Contains(strings.ReplaceAll(string(data), "\r\n", ""), "\n") {
		t.Errorf("bare LF in contact.csv (RFC 4180 §2 wants CRLF):\n%q", data)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 0
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("contact.csv: %v", err)
	}
	if len(rows) != 2 {
		t.Fatalf("contact.csv has %d rows; want header and one row", len(rows))
	}
	want := [][2]string{
		{"id", "0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e5f"}, {"kind", "contact"}, {"email", "åsa.öberg@exempel.se"},
		{"first_name", "Åsa"}, {"last_name", "Öberg-Lind"}, {"phone", "+46701234567"}, {"company", "Norrsken AB"},
		{"title", "Inköpschef"}, {"street", "Storgatan 1, 2 tr"}, {"city", "Umeå"}, {"postal_code", "903 26"},
		{"region", "Västerbotten"}, {"country", "SE"}, {"birthday", "1985-04-12"},
		{"notes", "Met at the fair, stand 4; wants a demo.\nCall back in May."}, {"tags", "vip; fair 2026"},
		{"source", "import:mailchimp"}, {"created_at", "2026-03-14T08:00:00Z"}, {"updated_at", "2026-11-29T10:00:00.123Z"},
		{"custom.referrer", `'=HYPERLINK("https://evil.example","x")`}, {"custom.shoe_size", "38"},
		{"external_ids.hubspot", "'-42"}, {"external_ids.mailchimp", "a1b2c3"},
	}
	if len(rows[0]) != len(want) || len(rows[1]) != len(want) {
		t.Fatalf("contact.csv has %d and %d columns; want %d", len(rows[0]), len(rows[1]), len(want))
	}
	for i, w := range want {
		if rows[0][i] != w[0] || rows[1][i] != w[1] {
			t.Errorf("column %d = %q: %q; want %q: %q", i, rows[0][i], rows[1][i], w[0], w[1])
		}
	}
}

// TestBundleCSVFormulaInjection: a cell a spreadsheet would run as a formula (OWASP CSV
// injection) starts with a single quote; an E.164 phone number is left as it is.
func TestBundleCSVFormulaInjection(t *testing.T) {
	for _, tc := range []struct {
		name, company, phone   string
		wantCompany, wantPhone string
	}{
		{"equals", "=1+2", "+46701234567", "'=1+2", "+46701234567"},
		{"dde", "=cmd|' /C calc'!A0", "", "'=cmd|' /C calc'!A0", ""},
		{"plus", "+1+2", "", "'+1+2", ""},
		{"minus", "-2+3", "", "'-2+3", ""},
		{"at", "@SUM(1+1)", "", "'@SUM(1+1)", ""},
		{"tab", "\t=1", "", "'\t=1", ""},
		{"carriage return", "\r=1", "", "'=1", ""}, // encoding/csv drops a CR inside a cell when writing CRLF
		{"formula later in the cell is text", "Norrsken =1", "", "Norrsken =1", ""},
		{"phone that is not E.164", "x", "+1=cmd()", "x", "'+1=cmd()"},
		{"phone with a minus", "x", "-46701234567", "x", "'-46701234567"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := richBundle(t)
			b.Contact.Company, b.Contact.Phone = tc.company, tc.phone
			files, _, _ := unzip(t, b)
			rows, err := csv.NewReader(bytes.NewReader(files["contact.csv"].data)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			col := func(name string) string { return rows[1][slices.Index(rows[0], name)] }
			if got := col("company"); got != tc.wantCompany {
				t.Errorf("company = %q; want %q", got, tc.wantCompany)
			}
			if got := col("phone"); got != tc.wantPhone {
				t.Errorf("phone = %q; want %q", got, tc.wantPhone)
			}
		})
	}
}

func TestBundleVCardParsesBack(t *testing.T) {
	b := richBundle(t)
	files, _, _ := unzip(t, b)
	data := files["contact.vcf"].data
	if !bytes.Equal(data, dsr.VCard(b.Contact)) {
		t.Error("contact.vcf is not dsr.VCard of the contact")
	}
	card, err := vcard.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		t.Fatalf("contact.vcf: %v", err)
	}
	for field, got := range map[string][2]string{
		"FN":    {card.Value(vcard.FieldFormattedName), "Åsa Öberg-Lind"},
		"EMAIL": {card.Value(vcard.FieldEmail), "åsa.öberg@exempel.se"},
		"TEL":   {card.Value(vcard.FieldTelephone), "tel:+46701234567"},
		"UID":   {card.Value(vcard.FieldUID), "urn:uuid:0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e5f"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %q; want %q", field, got[0], got[1])
		}
	}
}

func TestBundleConsentsRequestsSuppression(t *testing.T) {
	b := richBundle(t)
	files, _, _ := unzip(t, b)

	var consents struct {
		Current    []consent.Current   `json:"current"`
		History    []consent.Event     `json:"history"`
		Objections []consent.Objection `json:"objections"`
	}
	decode(t, "consents.json", files["consents.json"].data, &consents)
	if !reflect.DeepEqual(consents.Current, b.Consents) {
		t.Errorf("consents.json current = %+v; want %+v", consents.Current, b.Consents)
	}
	if !reflect.DeepEqual(consents.History, b.History) {
		t.Errorf("consents.json history = %+v; want %+v", consents.History, b.History)
	}
	if !reflect.DeepEqual(consents.Objections, b.Objections) {
		t.Errorf("consents.json objections = %+v; want %+v", consents.Objections, b.Objections)
	}
	for _, evidence := range []string{`"optin_ip": "192.0.2.9"`, `"confirm_ip": "192.0.2.10"`, `"user_agent": "Mozilla/5.0 (X11; Linux x86_64)"`} {
		if !bytes.Contains(files["consents.json"].data, []byte(evidence)) {
			t.Errorf("consents.json lacks the evidence %s", evidence)
		}
	}

	var requests []dsr.BundleRequest
	decode(t, "requests.json", files["requests.json"].data, &requests)
	if !reflect.DeepEqual(requests, b.Requests) {
		t.Errorf("requests.json = %+v; want %+v", requests, b.Requests)
	}

	wantSup := `{"suppressed":true,"reason":"unsubscribed","since":"2026-10-02T07:00:00Z"}`
	if got := compact(t, files["suppression.json"].data); got != wantSup {
		t.Errorf("suppression.json = %s; want %s", got, wantSup)
	}
}

func TestBundleAuditHasNoHashes(t *testing.T) {
	files, _, _ := unzip(t, richBundle(t))
	want := `[{"seq":41,"at":"2026-11-21T14:02:03Z","actor":{"kind":"token","id":"tok-7","role":"dpo"},"action":"contact.read",` +
		`"object_kind":"contact","object_id":"0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e5f","fields":["email","phone"],"purpose":"sales-followup"}]`
	if got := compact(t, files["audit.json"].data); got != want {
		t.Errorf("audit.json = %s\nwant        %s", got, want)
	}
}

// TestBundleEmptyListsAreArrays: a contact with nothing else gives [] and a fixed-shape
// suppression.json, never null.
func TestBundleEmptyListsAreArrays(t *testing.T) {
	b := &dsr.Bundle{
		Contact: contact.Contact{ID: "0190f1c2-7a7b-7c3d-8e9f-0a1b2c3d4e60", Kind: contact.KindLead, Phone: "+358401234567",
			CreatedAt: generatedAt, UpdatedAt: generatedAt, Version: 1},
		Audit:       []audit.Event{{Seq: 1, At: generatedAt, Actor: audit.Actor{Kind: audit.ActorSystem, ID: "tillit"}, Action: "contact.create", ObjectKind: "contact", ObjectID: "x"}},
		GeneratedAt: generatedAt, Controller: "Norrsken AB",
	}
	files, _, _ := unzip(t, b)
	for name, want := range map[string]string{
		"disclosures.json": `[]`,
		"requests.json":    `[]`,
		"consents.json":    `{"current":[],"history":[],"objections":[]}`,
		"suppression.json": `{"suppressed":false,"reason":"","since":null}`,
		"audit.json": `[{"seq":1,"at":"2026-12-01T09:30:00Z","actor":{"kind":"system","id":"tillit","role":""},"action":"contact.create",` +
			`"object_kind":"contact","object_id":"x","fields":[],"purpose":""}]`,
	} {
		if got := compact(t, files[name].data); got != want {
			t.Errorf("%s = %s; want %s", name, got, want)
		}
	}
	if got := string(files["disclosures.json"].data); got != "[]\n" {
		t.Errorf("disclosures.json = %q; want %q", got, "[]\n")
	}
	if err := validate(contactSchema(t), files["contact.json"].data); err != nil {
		t.Errorf("minimal contact.json: %v", err)
	}
	var m struct {
		RequestID *string `json:"request_id"`
	}
	if err := json.Unmarshal(files["manifest.json"].data, &m); err != nil || m.RequestID == nil || *m.RequestID != "" {
		t.Errorf("manifest request_id for a staff export = %v (%v); want \"\"", m.RequestID, err)
	}
}

func TestBundleDisclosures(t *testing.T) {
	b := richBundle(t)
	b.Disclosures = []dsr.Disclosure{{ID: "d-1", ProcessorID: "p-1", ProcessorName: "Mailer GmbH", Purpose: "newsletter",
		Fields: []string{"email", "first_name"}, DisclosedAt: time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC), Allowed: true, Reason: "allowed"},
		{ID: "d-2", ProcessorID: "p-1", ProcessorName: "Mailer GmbH", Purpose: "newsletter", Fields: []string{"phone"},
			DisclosedAt: time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC), Reason: "field_not_agreed"}}
	files, _, _ := unzip(t, b)
	want := `[{"id":"d-1","processor_id":"p-1","processor_name":"Mailer GmbH","purpose":"newsletter","fields":["email","first_name"],"disclosed_at":"2026-05-01T06:00:00Z","allowed":true,"reason":"allowed"},` +
		`{"id":"d-2","processor_id":"p-1","processor_name":"Mailer GmbH","purpose":"newsletter","fields":["phone"],"disclosed_at":"2026-05-02T06:00:00Z","allowed":false,"reason":"field_not_agreed"}]`
	if got := compact(t, files["disclosures.json"].data); got != want {
		t.Errorf("disclosures.json = %s; want %s", got, want)
	}
}

func TestBundleIsDeterministic(t *testing.T) {
	_, _, first := unzip(t, richBundle(t))
	_, _, second := unzip(t, richBundle(t))
	if !bytes.Equal(first, second) {
		t.Fatal("two WriteZip calls on the same bundle differ")
	}
	// The same instant in another time zone gives the same bytes.
	b := richBundle(t)
	b.GeneratedAt = generatedAt.In(time.FixedZone("CET", 3600))
	if _, _, third := unzip(t, b); !bytes.Equal(first, third) {
		t.Error("GeneratedAt in another time zone changed the bytes")
	}
	// And a different time does change them (the test would notice a fixed date).
	b.GeneratedAt = generatedAt.Add(time.Hour)
	if _, _, fourth := unzip(t, b); bytes.Equal(first, fourth) {
		t.Error("GeneratedAt is not in the output")
	}
}

func TestBundleReadme(t *testing.T) {
	files, _, _ := unzip(t, richBundle(t))
	readme := string(files["README.txt"].data)
	for _, want := range append([]string{"Article 15", "Article 20", "Article 77", "supervisory authority", "Norrsken AB",
		"1 December 2026 at 09:30 (UTC)", "req-1"}, bundleFiles[:len(bundleFiles)-1]...) {
		if !strings.Contains(readme, want) {
			t.Errorf("README.txt does not mention %q", want)
		}
	}
	for _, personal := range []string{"Åsa", "åsa.öberg@exempel.se", "+46701234567"} {
		if strings.Contains(readme, personal) {
			t.Errorf("README.txt holds personal data %q", personal)
		}
	}
}

func TestBundleRefusesAnUnsetTime(t *testing.T) {
	b := richBundle(t)
	b.GeneratedAt = time.Time{}
	var buf bytes.Buffer
	err := b.WriteZip(&buf)
	if !apperr.Is(err, apperr.Internal) {
		t.Fatalf("WriteZip without generated_at = %v; want Internal", err)
	}
	if buf.Len() != 0 {
		t.Errorf("WriteZip wrote %d bytes before failing", buf.Len())
	}
	if strings.Contains(err.Error(), "Åsa") || strings.Contains(err.Error(), b.Contact.Email) {
		t.Errorf("error holds personal data: %v", err)
	}
}

func compact(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return buf.String()
}

// TestRegisterNamesFilesOfTheBundle: every bundle file a holding of the personal-data register
// says carries it is a file WriteZip writes, so the register and the bundle cannot drift apart
// (GDPR Art. 15: the copy holds what we hold).
func TestRegisterNamesFilesOfTheBundle(t *testing.T) {
	files, _, _ := unzip(t, richBundle(t))
	exported := 0
	for _, h := range personal.Holdings() {
		for _, f := range h.Files {
			exported++
			if _, ok := files[f]; !ok || f == "manifest.json" || f == "README.txt" || f == "contact.schema.json" {
				t.Errorf("holding %s is exported to %q, which is not a data file of the bundle", h.ID, f)
			}
		}
	}
	if exported == 0 {
		t.Error("the register exports no holding")
	}
}
