package consent_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// receiptKantaraDir is the published Kantara CR v1.1 folder, read in place (see
// shared/testdata/external/README.md).
var receiptKantaraDir = filepath.Join("..", "..", "..", "shared", "testdata", "external", "kantara")

// receiptExternal returns the path of a file in the Kantara folder, skipping the test when the
// folder is absent unless TILLIT_REQUIRE_EXTERNAL_TESTDATA=1.
func receiptExternal(t *testing.T, name string) string {
	t.Helper()
	if _, err := os.Stat(receiptKantaraDir); err != nil {
		if os.Getenv("TILLIT_REQUIRE_EXTERNAL_TESTDATA") == "1" {
			t.Fatalf("external test data required but absent: %v", err)
		}
		t.Skipf("external Kantara test data not found at %s (set TILLIT_REQUIRE_EXTERNAL_TESTDATA=1 to fail instead)", receiptKantaraDir)
	}
	return filepath.Join(receiptKantaraDir, name)
}

// receiptSchema compiles the published Kantara CR v1.1 schema (draft-04) after stripping its
// `//` comment lines.
func receiptSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(receiptExternal(t, "consent-receipt-v1_1-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if json.Valid(raw) {
		t.Fatal("the published schema parses as JSON without stripping comments: the test data changed")
	}
	var lines []string
	for line := range strings.SplitSeq(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		lines = append(lines, line)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("schema after stripping comments: %v", err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://kantarainitiative.org/consent-receipt-v1_1-schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func receiptValidate(sch *jsonschema.Schema, b []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

var (
	receiptOccurred = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	receiptRecorded = time.Date(2026, 3, 14, 9, 27, 0, 123000000, time.UTC)
	receiptOptin    = time.Date(2026, 3, 14, 9, 20, 1, 0, time.UTC)
)

func receiptController() consent.Controller {
	return consent.Controller{
		Name: "Exempel AB", Contact: "Privacy team", Email: "privacy@exempel.se", Phone: "+46 8 123 456 00",
		URL: "https://exempel.se", Street: "Storgatan 1", Locality: "Stockholm", PostalCode: "111 22",
		Country: "SE", Jurisdiction: "EU", PolicyURL: "https://exempel.se/privacy", Language: "sv",
		DPOEmail: "dpo@exempel.se",
	}
}

func receiptPurpose() consent.Purpose {
	return consent.Purpose{
		ID: "newsletter", Name: "Newsletter",
		Description:   "We send you our newsletter by e-mail. You can unsubscribe at any time with one click.",
		LawfulBasis:   consent.BasisConsent,
		RetentionDays: 730, DoubleOptIn: true, DirectMarketing: true,
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func receiptEvent() consent.Event {
	p := receiptPurpose()
	return consent.Event{
		ID: "0f8e5c2a-6d1b-4c3e-9a7f-2b4d6e8f0a1c", ContactID: "c_7Hq2", Purpose: "newsletter",
		State: consent.Given, Method: consent.MethodDoubleOptIn,
		PolicyVersions: map[string]string{"privacy_policy": "3", "terms_of_service": "2"},
		NoticeHash:     p.NoticeHash(),
		OccurredAt:     receiptOccurred, RecordedAt: receiptRecorded,
		Actor: "public",
		Evidence: consent.Evidence{
			IP: "198.51.100.23", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
			OptinTime: &receiptOptin, OptinIP: "203.0.113.7",
			ConfirmTime: &receiptOccurred, ConfirmIP: "198.51.100.23",
			FormID: "footer-signup", Source: "website footer", Note: "asked by anna.svensson@example.org",
		},
	}
}

// TestKantaraExampleValidates proves the validator and the comment stripping work: the published
// example is valid, and copies with consentTimestamp removed or made a string are not.
func TestKantaraExampleValidates(t *testing.T) {
	sch := receiptSchema(t)
	raw, err := os.ReadFile(receiptExternal(t, "consent-receipt-v1_1-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := receiptValidate(sch, raw); err != nil {
		t.Fatalf("published example: %v", err)
	}
	for name, mod := range map[string]func(map[string]any){
		"consentTimestamp removed":   func(m map[string]any) { delete(m, "consentTimestamp") },
		"consentTimestamp as string": func(m map[string]any) { m["consentTimestamp"] = "1510592400" },
		"consentTimestamp negative":  func(m map[string]any) { m["consentTimestamp"] = -1 },
		"piiControllers[0].phone removed": func(m map[string]any) {
			delete(m["piiControllers"].([]any)[0].(map[string]any), "phone")
		},
	} {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		mod(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := receiptValidate(sch, b); err == nil {
			t.Errorf("%s: validated, want a schema error", name)
		}
	}
}

// TestKantaraReceiptValidates renders an event of every state with every method, for purposes
// on consent and on another basis and for an unconfigured controller, and validates each.
func TestKantaraReceiptValidates(t *testing.T) {
	sch := receiptSchema(t)
	contract := consent.Purpose{ID: "delivery", Name: "Delivery", LawfulBasis: consent.BasisContract}
	// Found by a trial: a sale-or-sharing purpose sent thirdPartyDisclosure without the
	// thirdPartyName the schema then requires.
	sharing := receiptPurpose()
	sharing.ID, sharing.SaleOrSharing = "partners", true
	for _, p := range []consent.Purpose{receiptPurpose(), contract, sharing} {
		for _, c := range []consent.Controller{receiptController(), {}} {
			for _, s := range consent.States {
				for _, m := range consent.Methods {
					e := receiptEvent()
					e.Purpose, e.State, e.Method = p.ID, s, m
					b, err := consent.KantaraReceipt(c, "c_7Hq2", p, e)
					if err != nil {
						t.Fatalf("%s %s %s: %v", p.ID, s, m, err)
					}
					if err := receiptValidate(sch, b); err != nil {
						t.Errorf("%s %s %s (controller %q): %v\n%s", p.ID, s, m, c.Name, err, b)
					}
				}
			}
		}
	}
}

// TestKantaraReceiptFields asserts every value of the receipt of a fixed double opt-in event.
func TestKantaraReceiptFields(t *testing.T) {
	e := receiptEvent()
	b, err := consent.KantaraReceipt(receiptController(), "c_7Hq2", receiptPurpose(), e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": "KI-CR-v1.1.0",
  "jurisdiction": "EU",
  "consentTimestamp": 1773480413,
  "collectionMethod": "double opt-in e-mail confirmation",
  "consentReceiptID": "0f8e5c2a-6d1b-4c3e-9a7f-2b4d6e8f0a1c",
  "language": "sv",
  "piiPrincipalId": "c_7Hq2",
  "piiControllers": [
    {
      "piiController": "Exempel AB",
      "contact": "Privacy team",
      "address": {
        "streetAddress": "Storgatan 1",
        "addressLocality": "Stockholm",
        "postalCode": "111 22",
        "addressCountry": "SE"
      },
      "email": "privacy@exempel.se",
      "phone": "+46 8 123 456 00",
      "piiControllerUrl": "https://exempel.se"
    }
  ],
  "policyUrl": "https://exempel.se/privacy",
  "services": [
    {
      "service": "Newsletter",
      "purposes": [
        {
          "purpose": "We send you our newsletter by e-mail. You can unsubscribe at any time with one click.",
          "purposeCategory": [
            "dpv:DirectMarketing"
          ],
          "consentType": "EXPLICIT",
          "piiCategory": [
            "dpv-pd:EmailAddress",
            "dpv-pd:Name"
          ],
          "primaryPurpose": true,
          "termination": "Retention period 730 days, or until consent is withdrawn if earlier",
          "thirdPartyDisclosure": false
        }
      ]
    }
  ],
  "sensitive": false,
  "spiCat": []
}`
	if string(b) != want {
		t.Errorf("receipt:\n%s\nwant:\n%s", b, want)
	}
	if got := receiptOccurred.Unix(); got != 1773480413 {
		t.Fatalf("fixture time is %d seconds", got)
	}
	for _, personal := range []string{e.Evidence.IP, e.Evidence.OptinIP, e.Evidence.ConfirmIP, e.Evidence.UserAgent, e.Evidence.Note, "anna.svensson@example.org", e.Evidence.FormID} {
		if bytes.Contains(b, []byte(personal)) {
			t.Errorf("receipt contains evidence %q", personal)
		}
	}
}

// TestKantaraReceiptStates checks how each state and method is stated within the v1.1 schema's
// fields, and the placeholders of an unconfigured controller.
func TestKantaraReceiptStates(t *testing.T) {
	desc := receiptPurpose().Description
	for _, tc := range []struct {
		state         consent.State
		method        consent.Method
		purpose, coll string
	}{
		{consent.Given, consent.MethodWebForm, desc, "web form"},
		{consent.Requested, consent.MethodAPI, "Consent requested, not yet given (dpv:ConsentRequested): " + desc, "API"},
		{consent.Refused, consent.MethodGPC, "Consent refused (dpv:ConsentRefused): " + desc, "Global Privacy Control signal"},
		{consent.Withdrawn, consent.MethodOneClick, "Consent withdrawn (dpv:ConsentWithdrawn): " + desc, "one-click unsubscribe"},
		{consent.Withdrawn, consent.MethodStaff, "Consent withdrawn (dpv:ConsentWithdrawn): " + desc, "recorded by staff"},
		{consent.Expired, consent.MethodImport, "Consent expired (dpv:ConsentExpired): " + desc, "import from a previous system"},
	} {
		e := receiptEvent()
		e.State, e.Method = tc.state, tc.method
		b, err := consent.KantaraReceipt(consent.Controller{}, "c_7Hq2", receiptPurpose(), e)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Jurisdiction, CollectionMethod, Language, PolicyURL string
			PIIControllers                                      []map[string]any
			Services                                            []struct {
				Purposes []struct{ Purpose, ConsentType string }
			}
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if got := r.Services[0].Purposes[0].Purpose; got != tc.purpose {
			t.Errorf("%s: purpose %q, want %q", tc.state, got, tc.purpose)
		}
		if r.CollectionMethod != tc.coll {
			t.Errorf("%s: collectionMethod %q, want %q", tc.method, r.CollectionMethod, tc.coll)
		}
		if r.Language != "en" || r.Jurisdiction != "not provided" || r.PolicyURL != "not provided" {
			t.Errorf("defaults: language %q, jurisdiction %q, policyUrl %q", r.Language, r.Jurisdiction, r.PolicyURL)
		}
		wantCtl := map[string]any{"piiController": "not provided", "contact": "not provided", "address": map[string]any{}, "email": "not provided", "phone": "not provided"}
		if got, _ := json.Marshal(r.PIIControllers[0]); !bytes.Equal(got, mustJSON(t, wantCtl)) {
			t.Errorf("controller placeholders: %s", got)
		}
	}
	contract := consent.Purpose{ID: "records", Name: "Bookkeeping", LawfulBasis: consent.BasisLegalObligation}
	e := receiptEvent()
	e.Purpose = "records"
	b, err := consent.KantaraReceipt(receiptController(), "c_7Hq2", contract, e)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"purpose": "Bookkeeping"`, `"consentType": "N/A"`, `"dpv:LegalCompliance"`, `"termination": "While the lawful basis lasts"`} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("legal obligation receipt lacks %s:\n%s", s, b)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReceiptRefuses lists the inputs both renderings refuse, with the field each names.
func TestReceiptRefuses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		principal string
		mod       func(*consent.Event)
		field     string
		kantara   bool // refused by KantaraReceipt only
	}{
		{"no event id", "c_7Hq2", func(e *consent.Event) { e.ID = "" }, "id", false},
		{"no principal", "", func(*consent.Event) {}, "contact_id", false},
		{"e-mail as principal", "anna.svensson@example.org", func(*consent.Event) {}, "contact_id", false},
		{"unknown state", "c_7Hq2", func(e *consent.Event) { e.State = "dpv:ConsentMaybe" }, "state", false},
		{"unknown method", "c_7Hq2", func(e *consent.Event) { e.Method = "carrier-pigeon" }, "method", false},
		{"other purpose", "c_7Hq2", func(e *consent.Event) { e.Purpose = "sales-followup" }, "purpose", false},
		{"no time", "c_7Hq2", func(e *consent.Event) { e.OccurredAt = time.Time{} }, "occurred_at", false},
		{"before 1970", "c_7Hq2", func(e *consent.Event) { e.OccurredAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, "occurred_at", true},
	} {
		e := receiptEvent()
		tc.mod(&e)
		_, err := consent.KantaraReceipt(receiptController(), tc.principal, receiptPurpose(), e)
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Invalid || ae.Field != tc.field {
			t.Errorf("%s: KantaraReceipt error %v, want Invalid on %s", tc.name, err, tc.field)
		}
		_, err = consent.ISO27560Record(receiptController(), tc.principal, receiptPurpose(), e)
		if tc.kantara {
			if err != nil {
				t.Errorf("%s: ISO27560Record error %v, want none", tc.name, err)
			}
			continue
		}
		if ae := apperr.As(err); ae == nil || ae.Kind != apperr.Invalid || ae.Field != tc.field {
			t.Errorf("%s: ISO27560Record error %v, want Invalid on %s", tc.name, err, tc.field)
		}
	}
}

// TestISO27560RecordGolden compares the record of a fixed event with
// testdata/iso27560-record.golden.json (go test -update rewrites it).
func TestISO27560RecordGolden(t *testing.T) {
	e := receiptEvent()
	b, err := consent.ISO27560Record(receiptController(), "c_7Hq2", receiptPurpose(), e)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "iso27560-record.golden.json")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(b)+"\n" != string(want) {
		t.Errorf("record differs from %s (go test -update rewrites it):\n%s", golden, b)
	}

	// Independent of the golden file: the values that make it a 27560 record of this event.
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"@type":                                "dpv:ConsentRecord",
		"dct:conformsTo":                       consent.ISO27560Schema,
		"dpv:hasIdentifier":                    e.ID,
		"dct:created":                          "2026-03-14T09:27:00.123Z",
		"dct:creator":                          "public",
		"dct:language":                         "sv",
		"dpv:hasDataSubject/dpv:hasIdentifier": "c_7Hq2",
		"dpv:hasDataController/dpv:hasName":    "Exempel AB",
		"dpv:hasJurisdiction":                  "loc:EU",
		"dpv:hasPurpose/@type":                 "dpv:DirectMarketing",
		"dpv:hasPurpose/dpv:hasIdentifier":     "newsletter",
		"dpv:hasNotice/tillit:sha256":          receiptPurpose().NoticeHash(),
		"dpv:hasNotice/dct:references":         "https://exempel.se/privacy",
		"dpv:hasNotice/tillit:policyVersions/privacy_policy": "3",
		"dpv:hasConsentStatus/@type":                         "dpv:ConsentGiven",
		"dpv:hasConsentStatus/dpv:isIndicatedAtTime":         "2026-03-14T09:26:53Z",
		"dpv:hasConsentStatus/tillit:method":                 "double-opt-in",
		"tillit:evidence/tillit:optinIP":                     "203.0.113.7",
		"tillit:evidence/tillit:optinTime":                   "2026-03-14T09:20:01Z",
		"tillit:evidence/tillit:confirmIP":                   "198.51.100.23",
		"tillit:evidence/tillit:confirmTime":                 "2026-03-14T09:26:53Z",
		"tillit:evidence/tillit:userAgent":                   e.Evidence.UserAgent,
		"tillit:evidence/tillit:formID":                      "footer-signup",
		"tillit:evidence/dct:source":                         "website footer",
		"tillit:evidence/tillit:note":                        e.Evidence.Note,
	} {
		var v any = r
		for _, k := range strings.Split(path, "/") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		if v != want {
			t.Errorf("%s = %v, want %q", path, v, want)
		}
	}
	bases, _ := r["dpv:hasPurpose"].(map[string]any)["dpv:hasLegalBasis"].([]any)
	if len(bases) != 2 || bases[0] != "dpv:Consent" || bases[1] != "eu-gdpr:A6-1-a" {
		t.Errorf("dpv:hasLegalBasis = %v", bases)
	}
}

// TestReceiptDeterministic renders the same input repeatedly: the bytes never change, whatever
// the map iteration order of the policy versions.
func TestReceiptDeterministic(t *testing.T) {
	e := receiptEvent()
	e.PolicyVersions = map[string]string{"privacy_policy": "3", "terms_of_service": "2", "dpa_template": "1", "cookie_policy": "7"}
	first := map[string][]byte{}
	for i := range 50 {
		k, err := consent.KantaraReceipt(receiptController(), "c_7Hq2", receiptPurpose(), e)
		if err != nil {
			t.Fatal(err)
		}
		r, err := consent.ISO27560Record(receiptController(), "c_7Hq2", receiptPurpose(), e)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first["kantara"], first["iso"] = k, r
			continue
		}
		if !bytes.Equal(k, first["kantara"]) {
			t.Fatalf("KantaraReceipt run %d differs:\n%s\nfirst:\n%s", i, k, first["kantara"])
		}
		if !bytes.Equal(r, first["iso"]) {
			t.Fatalf("ISO27560Record run %d differs:\n%s\nfirst:\n%s", i, r, first["iso"])
		}
	}
}
