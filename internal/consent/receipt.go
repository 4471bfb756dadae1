package consent

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// Controller identifies the data controller (GDPR Art. 4(7)) for consent receipts, consent records
// and notices: the Kantara CR v1.1 "piiControllers" entry and the ISO/IEC TS 27560:2023 party of
// type controller (DPV dpv:DataController).
//
// Kantara CR v1.1 requires contact, address, email and phone for every controller; an empty field
// is rendered as the placeholder "not provided", so deployments should fill in the controller
// settings completely. Empty address lines are left out of the address object.
type Controller struct {
	Name, Contact, Email, Phone, URL      string
	Street, Locality, PostalCode, Country string // postal address; Country ISO 3166-1 alpha-2
	Jurisdiction                          string // ISO 3166-1 alpha-2 or "EU"
	PolicyURL                             string // URL of the privacy notice
	Language                              string // BCP 47, default "en"
	DPOEmail                              string // data protection officer contact (GDPR Art. 37–39), may be empty
}

// KantaraVersion is the version string of a Kantara Initiative Consent Receipt v1.1 document.
const KantaraVersion = "KI-CR-v1.1.0"

// ISO27560Schema is the "dct:conformsTo" value of an ISO27560Record: the DPVCG profile of
// ISO/IEC TS 27560:2023 for consent records ("Consent Records and Receipts as per ISO/IEC TS
// 27560:2023 using DPV", https://w3id.org/dpv/guides/consent-27560).
const ISO27560Schema = "https://w3id.org/dpv/schema/dpv-27560#record"

// notProvided stands in for a controller detail that Kantara CR v1.1 requires but the controller
// settings leave empty.
const notProvided = "not provided"

// KantaraReceipt renders one consent event as a Kantara Initiative Consent Receipt v1.1
// (KI-CR-v1.1.0, schema "v 1.1.0 DRAFT 6, 2017-11-17") document and returns its JSON, indented
// by two spaces. The result validates against the published v1.1 JSON schema.
//
// principalID is the contact id and becomes "piiPrincipalId": a receipt is pseudonymous and never
// holds the person's e-mail address or name; an id containing '@' is refused. Evidence (IP
// addresses, user agent, note) has no place in a Kantara receipt and is left out; use
// ISO27560Record for it.
//
// Field mapping:
//   - consentReceiptID = e.ID; consentTimestamp = e.OccurredAt in Unix seconds;
//   - collectionMethod = a phrase per Method ("web form", "double opt-in e-mail confirmation",
//     "import from a previous system", "recorded by staff", "API", "one-click unsubscribe",
//     "Global Privacy Control signal");
//   - jurisdiction = c.Jurisdiction; language = c.Language or "en"; policyUrl = c.PolicyURL;
//   - piiControllers = one entry from c (see Controller for placeholders);
//   - services = one service named p.Name with one purpose: "purpose" is p.Description (p.Name when
//     empty), "purposeCategory" one DPV purpose term (dpv:DirectMarketing when the purpose is
//     marked direct_marketing; dpv:LegalCompliance for
//     dpv:LegalObligation; otherwise dpv:ServiceProvision), "consentType" "EXPLICIT" when the
//     purpose rests on dpv:Consent and "N/A" otherwise, "piiCategory" the DPV personal data
//     terms dpv-pd:EmailAddress and dpv-pd:Name (what Tillit keeps for a consent purpose),
//     "termination" a phrase from p.RetentionDays, "primaryPurpose" true and
//     "thirdPartyDisclosure" true for a purpose marked sale_or_sharing, else false;
//   - sensitive = false; spiCat = [].
//
// The v1.1 schema has no consent-state field. The receipt of an event other than
// dpv:ConsentGiven states the event at the start of the "purpose" text, for example
// "Consent withdrawn (dpv:ConsentWithdrawn): We send you our newsletter…". No field outside the
// schema is added, although the schema would allow additional properties.
//
// Errors are apperr Invalid, naming the field: an empty event id or principal id, a principal id
// that looks like an e-mail address, an unknown state or method, an occurred time before
// 1970-01-01 (consentTimestamp has minimum 0), or a purpose whose id differs from e.Purpose.
func KantaraReceipt(c Controller, principalID string, p Purpose, e Event) ([]byte, error) {
	if err := checkRender(principalID, p, e); err != nil {
		return nil, err
	}
	purpose := p.Description
	if strings.TrimSpace(purpose) == "" {
		purpose = p.Name
	}
	if e.State != Given {
		purpose = stateLabel(e.State) + " (" + string(e.State) + "): " + purpose
	}
	consentType := "EXPLICIT"
	if p.LawfulBasis != BasisConsent {
		consentType = "N/A"
	}
	r := kantaraReceipt{
		Version:          KantaraVersion,
		Jurisdiction:     orPlaceholder(c.Jurisdiction),
		ConsentTimestamp: e.OccurredAt.Unix(),
		CollectionMethod: collectionPhrase(e.Method),
		ConsentReceiptID: e.ID,
		Language:         language(c),
		PIIPrincipalID:   principalID,
		PIIControllers: []kantaraController{{
			PIIController: orPlaceholder(c.Name),
			Contact:       orPlaceholder(c.Contact),
			Address: kantaraAddress{
				StreetAddress:   c.Street,
				AddressLocality: c.Locality,
				PostalCode:      c.PostalCode,
				AddressCountry:  c.Country,
			},
			Email:            orPlaceholder(c.Email),
			Phone:            orPlaceholder(c.Phone),
			PIIControllerURL: c.URL,
		}},
		PolicyURL: orPlaceholder(c.PolicyURL),
		Services: []kantaraService{{
			Service: p.Name,
			Purposes: []kantaraPurpose{{
				Purpose:              purpose,
				PurposeCategory:      []string{purposeCategory(p)},
				ConsentType:          consentType,
				PIICategory:          piiCategories(),
				PrimaryPurpose:       true,
				Termination:          retentionPhrase(p),
				ThirdPartyDisclosure: p.SaleOrSharing,
				ThirdPartyName:       thirdParties(c, p),
			}},
		}},
		Sensitive: false,
		SPICat:    []string{},
	}
	return json.MarshalIndent(r, "", "  ")
}

// ISO27560Record renders one consent event as an ISO/IEC TS 27560:2023 consent record in JSON,
// with W3C DPV terms as keys and values as the DPVCG guide "Consent Records and Receipts as per
// ISO/IEC TS 27560:2023 using DPV" does (compact CURIEs, prefixes declared in "@context").
// It returns the JSON indented by two spaces; map keys are sorted, so equal input gives equal
// bytes.
//
// The record holds evidence (IP addresses, user agent, note), which is personal data: serve it
// only to the person, the controller's staff and auditors, never in logs.
//
// Field mapping (ISO field → key):
//   - schema_version → "dct:conformsTo" = ISO27560Schema; the record is "@type" dpv:ConsentRecord;
//   - record_id → "dpv:hasIdentifier" = e.ID; language → "dct:language" = c.Language or "en";
//   - pii_principal_id → "dpv:hasDataSubject" {"dpv:hasIdentifier": principalID} (pseudonymous: an
//     id containing '@' is refused);
//   - pii_controllers → "dpv:hasDataController": "dpv:hasName", "dpv:hasAddress" (schema.org
//     PostalAddress keys), "dpv:hasContact" (schema.org name, email, telephone, url),
//     "dpv:hasDataProtectionOfficer" when c.DPOEmail is set; jurisdiction → "dpv:hasJurisdiction"
//     = "loc:" + c.Jurisdiction;
//   - purpose → "dpv:hasPurpose": "@type" the DPV purpose term (as in KantaraReceipt),
//     "dpv:hasIdentifier" p.ID, "dct:title" p.Name, "dct:description" p.Description;
//     lawful_basis → "dpv:hasLegalBasis" = [p.LawfulBasis, its eu-gdpr Art. 6(1) term];
//     pii_type → "dpv:hasPersonalData" = [dpv-pd:EmailAddress, dpv-pd:Name]; retention_period →
//     "dpv:hasStorageCondition" a dpv:StorageDuration whose "dpv:hasDuration" is a
//     dpv:TemporalDuration ("P<n>D") or, for RetentionDays 0, a dpv:UntilEventDuration;
//   - privacy_notice → "dpv:hasNotice": a dpv:ConsentNotice with "tillit:sha256" = e.NoticeHash,
//     "tillit:policyVersions" = e.PolicyVersions and "dct:references" = c.PolicyURL;
//   - event_state → "dpv:hasConsentStatus": "@type" = e.State (dpv:ConsentGiven, …),
//     event_time → "dpv:isIndicatedAtTime" = e.OccurredAt, "tillit:method" = e.Method;
//   - "dct:created" = e.RecordedAt and "dct:creator" = e.Actor (who recorded the event);
//   - "tillit:evidence" = e.Evidence: "tillit:ip", "tillit:userAgent", "tillit:optinTime",
//     "tillit:optinIP", "tillit:confirmTime", "tillit:confirmIP", "tillit:formID", "dct:source",
//     "tillit:note" (empty values left out).
//
// Times are RFC 3339 in UTC. Keys in the "tillit:" namespace carry what DPV has no term for.
// Errors are those of KantaraReceipt, except that times before 1970 are allowed.
func ISO27560Record(c Controller, principalID string, p Purpose, e Event) ([]byte, error) {
	if err := checkEvent(principalID, p, e); err != nil {
		return nil, err
	}
	controller := isoController{
		Type: "dpv:DataController",
		Name: orPlaceholder(c.Name),
		Contact: isoContact{
			Name: c.Contact, Email: c.Email, Telephone: c.Phone, URL: c.URL,
		},
	}
	if c.Street != "" || c.Locality != "" || c.PostalCode != "" || c.Country != "" {
		controller.Address = &isoAddress{
			Type: "schema:PostalAddress", StreetAddress: c.Street, AddressLocality: c.Locality,
			PostalCode: c.PostalCode, AddressCountry: c.Country,
		}
	}
	if c.DPOEmail != "" {
		controller.DPO = &isoDPO{Type: "dpv:DataProtectionOfficer", Email: c.DPOEmail}
	}
	jurisdiction := ""
	if c.Jurisdiction != "" {
		jurisdiction = "loc:" + c.Jurisdiction
	}
	bases := []string{p.LawfulBasis}
	if a := gdprArticle[p.LawfulBasis]; a != "" {
		bases = append(bases, a)
	}
	duration := isoDuration{Type: "dpv:TemporalDuration", Value: fmt.Sprintf("P%dD", p.RetentionDays)}
	if p.RetentionDays == 0 {
		duration = isoDuration{Type: "dpv:UntilEventDuration", Description: retentionPhrase(p)}
	}
	policyVersions := e.PolicyVersions
	if policyVersions == nil {
		policyVersions = map[string]string{}
	}
	r := isoRecord{
		Context:      isoContext,
		Type:         "dpv:ConsentRecord",
		ConformsTo:   ISO27560Schema,
		ID:           e.ID,
		Language:     language(c),
		Created:      rfc3339(e.RecordedAt),
		Creator:      e.Actor,
		DataSubject:  isoSubject{Type: "dpv:DataSubject", ID: principalID},
		Controller:   controller,
		Jurisdiction: jurisdiction,
		Purpose: isoPurpose{
			Type:         purposeCategory(p),
			ID:           p.ID,
			Title:        p.Name,
			Description:  p.Description,
			LegalBasis:   bases,
			PersonalData: piiCategories(),
			StorageCondition: isoStorage{
				Type:     "dpv:StorageDuration",
				Duration: duration,
			},
		},
		Notice: isoNotice{
			Type:           "dpv:ConsentNotice",
			SHA256:         e.NoticeHash,
			PolicyVersions: policyVersions,
			References:     c.PolicyURL,
		},
		ConsentStatus: isoStatus{
			Type:            string(e.State),
			IndicatedAtTime: rfc3339(e.OccurredAt),
			Method:          string(e.Method),
		},
		Evidence: isoEvidence{
			IP:          e.Evidence.IP,
			UserAgent:   e.Evidence.UserAgent,
			OptinTime:   optionalTime(e.Evidence.OptinTime),
			OptinIP:     e.Evidence.OptinIP,
			ConfirmTime: optionalTime(e.Evidence.ConfirmTime),
			ConfirmIP:   e.Evidence.ConfirmIP,
			FormID:      e.Evidence.FormID,
			Source:      e.Evidence.Source,
			Note:        e.Evidence.Note,
		},
	}
	return json.MarshalIndent(r, "", "  ")
}

// Kantara CR v1.1 document, fields in the schema's order.
type kantaraReceipt struct {
	Version          string              `json:"version"`
	Jurisdiction     string              `json:"jurisdiction"`
	ConsentTimestamp int64               `json:"consentTimestamp"`
	CollectionMethod string              `json:"collectionMethod"`
	ConsentReceiptID string              `json:"consentReceiptID"`
	Language         string              `json:"language"`
	PIIPrincipalID   string              `json:"piiPrincipalId"`
	PIIControllers   []kantaraController `json:"piiControllers"`
	PolicyURL        string              `json:"policyUrl"`
	Services         []kantaraService    `json:"services"`
	Sensitive        bool                `json:"sensitive"`
	SPICat           []string            `json:"spiCat"`
}

type kantaraController struct {
	PIIController    string         `json:"piiController"`
	Contact          string         `json:"contact"`
	Address          kantaraAddress `json:"address"`
	Email            string         `json:"email"`
	Phone            string         `json:"phone"`
	PIIControllerURL string         `json:"piiControllerUrl,omitempty"`
}

// kantaraAddress uses the schema.org PostalAddress names, as the Kantara example does.
type kantaraAddress struct {
	StreetAddress   string `json:"streetAddress,omitempty"`
	AddressLocality string `json:"addressLocality,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
	AddressCountry  string `json:"addressCountry,omitempty"`
}

type kantaraService struct {
	Service  string           `json:"service"`
	Purposes []kantaraPurpose `json:"purposes"`
}

type kantaraPurpose struct {
	Purpose              string   `json:"purpose"`
	PurposeCategory      []string `json:"purposeCategory"`
	ConsentType          string   `json:"consentType"`
	PIICategory          []string `json:"piiCategory"`
	PrimaryPurpose       bool     `json:"primaryPurpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"thirdPartyDisclosure"`
	ThirdPartyName       string   `json:"thirdPartyName,omitempty"` // required by the schema when disclosing
}

// isoContext declares the CURIE prefixes an ISO27560Record uses, so that it reads as JSON-LD.
var isoContext = map[string]string{
	"dct":     "http://purl.org/dc/terms/",
	"dpv":     "https://w3id.org/dpv#",
	"dpv-pd":  "https://w3id.org/dpv/pd#",
	"eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
	"loc":     "https://w3id.org/dpv/loc#",
	"rdf":     "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
	"schema":  "https://schema.org/",
	"tillit":  "https://github.com/tillit/tillit/ns#",
}

type isoRecord struct {
	Context       map[string]string `json:"@context"`
	Type          string            `json:"@type"`
	ConformsTo    string            `json:"dct:conformsTo"`
	ID            string            `json:"dpv:hasIdentifier"`
	Language      string            `json:"dct:language"`
	Created       string            `json:"dct:created"`
	Creator       string            `json:"dct:creator,omitempty"`
	DataSubject   isoSubject        `json:"dpv:hasDataSubject"`
	Controller    isoController     `json:"dpv:hasDataController"`
	Jurisdiction  string            `json:"dpv:hasJurisdiction,omitempty"`
	Purpose       isoPurpose        `json:"dpv:hasPurpose"`
	Notice        isoNotice         `json:"dpv:hasNotice"`
	ConsentStatus isoStatus         `json:"dpv:hasConsentStatus"`
	Evidence      isoEvidence       `json:"tillit:evidence"`
}

type isoSubject struct {
	Type string `json:"@type"`
	ID   string `json:"dpv:hasIdentifier"`
}

type isoController struct {
	Type    string      `json:"@type"`
	Name    string      `json:"dpv:hasName"`
	Address *isoAddress `json:"dpv:hasAddress,omitempty"`
	Contact isoContact  `json:"dpv:hasContact"`
	DPO     *isoDPO     `json:"dpv:hasDataProtectionOfficer,omitempty"`
}

type isoAddress struct {
	Type            string `json:"@type"`
	StreetAddress   string `json:"schema:streetAddress,omitempty"`
	AddressLocality string `json:"schema:addressLocality,omitempty"`
	PostalCode      string `json:"schema:postalCode,omitempty"`
	AddressCountry  string `json:"schema:addressCountry,omitempty"`
}

type isoContact struct {
	Name      string `json:"schema:name,omitempty"`
	Email     string `json:"schema:email,omitempty"`
	Telephone string `json:"schema:telephone,omitempty"`
	URL       string `json:"schema:url,omitempty"`
}

type isoDPO struct {
	Type  string `json:"@type"`
	Email string `json:"schema:email"`
}

type isoPurpose struct {
	Type             string     `json:"@type"`
	ID               string     `json:"dpv:hasIdentifier"`
	Title            string     `json:"dct:title"`
	Description      string     `json:"dct:description,omitempty"`
	LegalBasis       []string   `json:"dpv:hasLegalBasis"`
	PersonalData     []string   `json:"dpv:hasPersonalData"`
	StorageCondition isoStorage `json:"dpv:hasStorageCondition"`
}

type isoStorage struct {
	Type     string      `json:"@type"`
	Duration isoDuration `json:"dpv:hasDuration"`
}

type isoDuration struct {
	Type        string `json:"@type"`
	Value       string `json:"rdf:value,omitempty"`
	Description string `json:"dct:description,omitempty"`
}

type isoNotice struct {
	Type           string            `json:"@type"`
	SHA256         string            `json:"tillit:sha256,omitempty"`
	PolicyVersions map[string]string `json:"tillit:policyVersions"`
	References     string            `json:"dct:references,omitempty"`
}

type isoStatus struct {
	Type            string `json:"@type"`
	IndicatedAtTime string `json:"dpv:isIndicatedAtTime"`
	Method          string `json:"tillit:method"`
}

type isoEvidence struct {
	IP          string `json:"tillit:ip,omitempty"`
	UserAgent   string `json:"tillit:userAgent,omitempty"`
	OptinTime   string `json:"tillit:optinTime,omitempty"`
	OptinIP     string `json:"tillit:optinIP,omitempty"`
	ConfirmTime string `json:"tillit:confirmTime,omitempty"`
	ConfirmIP   string `json:"tillit:confirmIP,omitempty"`
	FormID      string `json:"tillit:formID,omitempty"`
	Source      string `json:"dct:source,omitempty"`
	Note        string `json:"tillit:note,omitempty"`
}

// gdprArticle maps a DPV lawful basis to its EU GDPR term in the DPV legal extension.
var gdprArticle = map[string]string{
	BasisConsent:            "eu-gdpr:A6-1-a",
	BasisContract:           "eu-gdpr:A6-1-b",
	BasisLegalObligation:    "eu-gdpr:A6-1-c",
	BasisVitalInterest:      "eu-gdpr:A6-1-d",
	BasisPublicTask:         "eu-gdpr:A6-1-e",
	BasisLegitimateInterest: "eu-gdpr:A6-1-f",
}

// collectionPhrase is the Kantara "collectionMethod" text for a Method.
func collectionPhrase(m Method) string {
	switch m {
	case MethodWebForm:
		return "web form"
	case MethodDoubleOptIn:
		return "double opt-in e-mail confirmation"
	case MethodImport:
		return "import from a previous system"
	case MethodStaff:
		return "recorded by staff"
	case MethodAPI:
		return "API"
	case MethodOneClick:
		return "one-click unsubscribe"
	case MethodGPC:
		return "Global Privacy Control signal"
	}
	return string(m)
}

// stateLabel is the English phrase for a consent state, used in Kantara purpose text.
func stateLabel(s State) string {
	switch s {
	case Requested:
		return "Consent requested, not yet given"
	case Given:
		return "Consent given"
	case Refused:
		return "Consent refused"
	case Withdrawn:
		return "Consent withdrawn"
	case Expired:
		return "Consent expired"
	}
	return string(s)
}

// purposeCategory maps a purpose to one DPV purpose term: dpv:DirectMarketing for purposes marked
// direct_marketing, dpv:LegalCompliance for a legal obligation, dpv:ServiceProvision otherwise.
func purposeCategory(p Purpose) string {
	if p.DirectMarketing {
		return "dpv:DirectMarketing"
	}
	if p.LawfulBasis == BasisLegalObligation {
		return "dpv:LegalCompliance"
	}
	return "dpv:ServiceProvision"
}

// piiCategories are the DPV personal data terms Tillit keeps for a consent purpose.
func piiCategories() []string {
	return []string{"dpv-pd:EmailAddress", "dpv-pd:Name"}
}

// retentionPhrase describes p.RetentionDays for a person.
func retentionPhrase(p Purpose) string {
	consent := p.LawfulBasis == BasisConsent
	switch {
	case p.RetentionDays == 0 && consent:
		return "Until consent is withdrawn"
	case p.RetentionDays == 0:
		return "While the lawful basis lasts"
	}
	days := fmt.Sprintf("%d days", p.RetentionDays)
	if p.RetentionDays == 1 {
		days = "1 day"
	}
	if consent {
		return "Retention period " + days + ", or until consent is withdrawn if earlier"
	}
	return "Retention period " + days
}

func language(c Controller) string {
	if c.Language == "" {
		return "en"
	}
	return c.Language
}

func orPlaceholder(s string) string {
	if strings.TrimSpace(s) == "" {
		return notProvided
	}
	return s
}

func rfc3339(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

func optionalTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return rfc3339(*t)
}

// checkRender checks what KantaraReceipt needs beyond checkEvent.
func checkRender(principalID string, p Purpose, e Event) error {
	if err := checkEvent(principalID, p, e); err != nil {
		return err
	}
	if e.OccurredAt.Unix() < 0 {
		return apperr.Invalidf("occurred_at", "too_early", "occurred_at: a Kantara receipt needs a time after 1970-01-01")
	}
	return nil
}

// checkEvent checks the fields every rendering needs.
func checkEvent(principalID string, p Purpose, e Event) error {
	switch {
	case e.ID == "":
		return apperr.Invalidf("id", "required", "id: the event id is required")
	case principalID == "":
		return apperr.Invalidf("contact_id", "required", "contact_id: the principal id is required")
	case strings.Contains(principalID, "@"):
		return apperr.Invalidf("contact_id", "not_pseudonymous", "contact_id: use the contact id, not an e-mail address")
	case !contains(States, e.State):
		return apperr.Invalidf("state", "invalid_state", "state: unknown consent state")
	case !contains(Methods, e.Method):
		return apperr.Invalidf("method", "invalid_method", "method: unknown collection method")
	case e.Purpose != "" && e.Purpose != p.ID:
		return apperr.Invalidf("purpose", "purpose_mismatch", "purpose: the event is about another purpose")
	case e.OccurredAt.IsZero():
		return apperr.Invalidf("occurred_at", "required", "occurred_at: required")
	}
	return nil
}

// thirdPartyName names the recipients of a sale-or-sharing purpose: the processors listed in the
// privacy notice (the register of processors comes with the sharing issue).
func thirdParties(c Controller, p Purpose) string {
	if !p.SaleOrSharing {
		return ""
	}
	if c.PolicyURL != "" {
		return "the recipients listed in the privacy notice, " + c.PolicyURL
	}
	return "the recipients listed in the privacy notice"
}
