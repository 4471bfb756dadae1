// Package share keeps the register of processors (GDPR Art. 28) and controllers the company
// shares personal data with, and gates every disclosure: the data goes out only when the purpose
// is one the recipient was engaged for, its data processing agreement is signed and unexpired, a
// transfer outside the EEA has a mechanism (Art. 44–46), the consent gate allows the purpose for
// the contact at that moment (restriction, objection, consent or another lawful basis), and only
// the fields the recipient may receive are asked for. Every disclosure and refusal is recorded
// (field names, never values) and audited. Recipients learn of changes to a person's data by
// signed webhooks; one without a webhook, or whose webhook gave up, becomes a NotificationTask for
// staff when the change is one GDPR Art. 19 requires it to be told of.
package share

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/normalize"
)

// Role is what a recipient is to the controller.
type Role string

// Recipient roles.
const (
	RoleProcessor    Role = "processor"     // processes on the controller's behalf (Art. 28)
	RoleSubProcessor Role = "sub_processor" // engaged by a processor (Art. 28(2), (4))
	RoleController   Role = "controller"    // another controller (a separate basis is needed)
)

// Transfer mechanisms for a recipient outside the EEA (GDPR Chapter V).
const (
	TransferAdequacy = "adequacy" // Art. 45
	TransferSCC      = "scc"      // standard contractual clauses, Art. 46(2)(c)
	TransferBCR      = "bcr"      // binding corporate rules, Art. 47
	TransferNone     = "none"     // none: disclosures only inside the EEA (outside it they are refused, no_transfer_mechanism)
)

// DPA states.
const (
	DPARequested = "requested"
	DPASigned    = "signed"
	DPAExpired   = "expired"
)

// Refusal reasons besides the consent gate's (consent.Reason).
const (
	ReasonPurposeNotAssigned = "purpose_not_assigned" // the recipient was not engaged for the purpose
	ReasonDPAMissing         = "dpa_missing"          // no signed data processing agreement (Art. 28(3))
	ReasonDPAExpired         = "dpa_expired"
	ReasonNoTransfer         = "no_transfer_mechanism" // outside the EEA without adequacy, SCC or BCR (Art. 44)
	ReasonFieldNotAgreed     = "field_not_agreed"      // a field outside the recipient's data categories (Art. 5(1)(c))
	ReasonEnded              = "processor_ended"       // the engagement ended
)

// eea lists the EEA (ISO 3166-1 alpha-2): the EU member states with the outermost regions and
// Åland that have codes of their own, and Iceland, Liechtenstein and Norway. Transfers among
// them need no mechanism.
var eea = []string{"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
	"MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
	"AX", "GF", "GP", "MQ", "RE", "YT", "MF"}

// adequate lists the countries with an adequacy decision of the European Commission (GDPR Art.
// 45): Andorra, Argentina, Canada (commercial organisations), Faroe Islands, Guernsey, Israel, Isle
// of Man, Japan, Jersey, New Zealand, South Korea, Switzerland, the United Kingdom, Uruguay, and
// the United States (organisations certified under the EU-US Data Privacy Framework).
var adequate = []string{"AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "UY", "US"}

// EffectiveDPAStatus is the DPA status as it stands at now: a signed agreement past its expiry
// is expired.
func (p Processor) EffectiveDPAStatus(now time.Time) string {
	if p.DPAStatus == DPASigned && p.DPAExpiresAt != nil && !now.Before(*p.DPAExpiresAt) {
		return DPAExpired
	}
	return p.DPAStatus
}

// InEEA reports whether country (ISO 3166-1 alpha-2) is an EEA member state.
func InEEA(country string) bool { return slices.Contains(eea, country) }

// Processor is one recipient in the register, with the API's field names.
type Processor struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Role              Role     `json:"role"`
	Purposes          []string `json:"purposes"`
	DataCategories    []string `json:"data_categories"` // contact fields it may receive
	Country           string   `json:"country"`
	TransferMechanism string   `json:"transfer_mechanism"`
	// DPFCertified: a US recipient certified under the EU-US Data Privacy Framework, which the
	// Commission's adequacy decision for the United States covers (and only it).
	DPFCertified     bool       `json:"dpf_certified"`
	DPAStatus        string     `json:"dpa_status"`
	DPASignedAt      *time.Time `json:"dpa_signed_at,omitempty"`
	DPAExpiresAt     *time.Time `json:"dpa_expires_at,omitempty"`
	DPADocument      string     `json:"dpa_document,omitempty"` // where the signed agreement is kept
	ContactEmail     string     `json:"contact_email,omitempty"`
	WebhookURL       string     `json:"webhook_url,omitempty"`
	HasWebhookSecret bool       `json:"has_webhook_secret"`
	// EndedAt is when the engagement ended (DELETE): the processor is kept for the record and
	// still hears of erasures about people it received, but receives no new data and leaves the
	// DPA, the notice and the record of processing.
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Version   int        `json:"version"`
}

// Record is a processor as stored: the webhook secret sealed under the processor's data key.
type Record struct {
	Processor
	KeyVersion    int
	WebhookSecret []byte // sealed
}

// Disclosure is one disclosure asked for, as recorded: allowed, or refused with the reason.
type Disclosure struct {
	ID          string    `json:"id"`
	ContactID   string    `json:"contact_id"`
	ProcessorID string    `json:"processor_id"`
	Purpose     string    `json:"purpose"`
	Fields      []string  `json:"fields"`
	Allowed     bool      `json:"allowed"`
	Reason      string    `json:"reason"`
	Actor       string    `json:"actor"`
	At          time.Time `json:"at"`
}

// Tx is what sharing needs from one store transaction.
type Tx interface {
	contact.Tx
	consent.Tx
	InsertProcessor(ctx context.Context, r *Record) error // Conflict when the id is taken
	UpdateProcessor(ctx context.Context, r *Record) error // NotFound when absent
	ProcessorByID(ctx context.Context, id string) (*Record, error)
	ListProcessors(ctx context.Context) ([]*Record, error)
	InsertDisclosure(ctx context.Context, d Disclosure) error
	// DisclosuresOf returns the disclosures asked for about a contact, oldest first.
	DisclosuresOf(ctx context.Context, contactID string) ([]Disclosure, error)
}

// Store runs serialized transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Service keeps the register and gates disclosures. Fields are set once by internal/app.
type Service struct {
	Store    Store
	Contacts *contact.Service
	Keys     *keys.Keyring
	Now      func() time.Time
	NewID    func() string
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Input is the body of POST /api/v1/processors; a PATCH sends the fields to change.
type Input struct {
	ID                *string    `json:"id"`
	Name              *string    `json:"name"`
	Role              *Role      `json:"role"`
	Purposes          *[]string  `json:"purposes"`
	DataCategories    *[]string  `json:"data_categories"`
	Country           *string    `json:"country"`
	TransferMechanism *string    `json:"transfer_mechanism"`
	DPFCertified      *bool      `json:"dpf_certified"`
	DPAStatus         *string    `json:"dpa_status"`
	DPASignedAt       *time.Time `json:"dpa_signed_at"`
	DPAExpiresAt      *time.Time `json:"dpa_expires_at"`
	DPADocument       *string    `json:"dpa_document"`
	ContactEmail      *string    `json:"contact_email"`
	WebhookURL        *string    `json:"webhook_url"`
	WebhookSecret     *string    `json:"webhook_secret"` // write-only; sealed
	// Clear lists the fields a PATCH sent as null (JSON Merge Patch, RFC 7396): dpa_signed_at,
	// dpa_expires_at, dpa_document, contact_email, webhook_url and webhook_secret can be cleared.
	Clear []string `json:"-"`
}

// Create registers a processor ("processor.create"). Invalid naming the field for a bad slug
// id, an empty name, an unknown role, purpose, data category, country code, transfer mechanism
// or DPA status, a signed DPA without its date, or a webhook URL that is not https; Conflict for
// a taken id.
func (s *Service) Create(ctx context.Context, in Input) (Processor, error) {
	now := s.Now().UTC()
	r := &Record{Processor: Processor{Role: RoleProcessor, TransferMechanism: TransferNone, DPAStatus: DPARequested, CreatedAt: now, UpdatedAt: now, Version: 1,
		Purposes: []string{}, DataCategories: []string{}}}
	if in.ID == nil || !slugRE.MatchString(*in.ID) {
		return Processor{}, apperr.Invalidf("id", "invalid_id", "id: a slug of lower-case letters, digits and hyphens, such as mailer-eu")
	}
	r.ID = *in.ID
	var out Processor
	err := s.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.ProcessorByID(ctx, r.ID); err == nil {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "duplicate_id", Field: "id", Message: "id: a processor with this id exists", ID: r.ID}
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		if err := s.apply(ctx, tx, r, in); err != nil {
			return err
		}
		if err := s.sealSecret(ctx, tx, r, in.WebhookSecret, true); err != nil {
			return err
		}
		if r.WebhookURL != "" && !r.HasWebhookSecret {
			return apperr.Invalidf("webhook_secret", "required", "webhook_secret: required with a webhook_url (events are signed with it)")
		}
		if err := tx.InsertProcessor(ctx, r); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "processor.create", "processor", r.ID, changed(in)...)
		out = r.Processor
		return tx.AppendAudit(ctx, &ev)
	})
	return out, err
}

// Update changes the fields in in ("processor.update"); errors as Create, NotFound for an
// unknown processor.
func (s *Service) Update(ctx context.Context, id string, in Input) (Processor, error) {
	if in.ID != nil {
		return Processor{}, apperr.Invalidf("id", "read_only", "id: cannot be changed")
	}
	var out Processor
	err := s.Store.Update(ctx, func(tx Tx) error {
		r, err := tx.ProcessorByID(ctx, id)
		if err != nil {
			return err
		}
		if err := s.apply(ctx, tx, r, in); err != nil {
			return err
		}
		if err := s.sealSecret(ctx, tx, r, in.WebhookSecret, false); err != nil {
			return err
		}
		if r.WebhookURL != "" && !r.HasWebhookSecret {
			return apperr.Invalidf("webhook_secret", "required", "webhook_secret: required with a webhook_url (events are signed with it)")
		}
		r.UpdatedAt, r.Version = s.Now().UTC(), r.Version+1
		if err := tx.UpdateProcessor(ctx, r); err != nil {
			return err
		}
		ev := audit.New(ctx, r.UpdatedAt, "processor.update", "processor", r.ID, changed(in)...)
		out = r.Processor
		return tx.AppendAudit(ctx, &ev)
	})
	return out, err
}

// End ends the engagement with a processor ("processor.end"): see Processor.EndedAt. Ending an
// ended processor changes nothing. NotFound for an unknown processor.
func (s *Service) End(ctx context.Context, id string) (Processor, error) {
	var out Processor
	err := s.Store.Update(ctx, func(tx Tx) error {
		r, err := tx.ProcessorByID(ctx, id)
		if err != nil {
			return err
		}
		if r.EndedAt == nil {
			now := s.Now().UTC()
			r.EndedAt, r.UpdatedAt, r.Version = &now, now, r.Version+1
			if err := tx.UpdateProcessor(ctx, r); err != nil {
				return err
			}
			ev := audit.New(ctx, now, "processor.end", "processor", r.ID, "ended_at")
			if err := tx.AppendAudit(ctx, &ev); err != nil {
				return err
			}
		}
		out = r.Processor
		return nil
	})
	return out, err
}

// Get returns one processor; NotFound when absent.
func (s *Service) Get(ctx context.Context, id string) (Processor, error) {
	var out Processor
	err := s.Store.Update(ctx, func(tx Tx) error {
		r, err := tx.ProcessorByID(ctx, id)
		if err == nil {
			out = r.Processor
		}
		return err
	})
	return out, err
}

// List returns the register in id order.
func (s *Service) List(ctx context.Context) ([]Processor, error) {
	out := []Processor{}
	err := s.Store.Update(ctx, func(tx Tx) error {
		rs, err := tx.ListProcessors(ctx)
		for _, r := range rs {
			out = append(out, r.Processor)
		}
		return err
	})
	return out, err
}

// apply validates in and sets it on r.
func (s *Service) apply(ctx context.Context, tx Tx, r *Record, in Input) error {
	for _, f := range in.Clear {
		switch f {
		case "dpa_signed_at":
			r.DPASignedAt = nil
		case "dpa_expires_at":
			r.DPAExpiresAt = nil
		case "dpa_document":
			r.DPADocument = ""
		case "contact_email":
			r.ContactEmail = ""
		case "webhook_url":
			r.WebhookURL = ""
		case "webhook_secret":
			r.WebhookSecret, r.HasWebhookSecret = nil, false
		default:
			return apperr.Invalidf(f, "not_clearable", "%s: cannot be cleared", f)
		}
	}
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" || utf8.RuneCountInString(n) > 200 {
			return apperr.Invalidf("name", "invalid_name", "name: 1 to 200 characters")
		}
		r.Name = n
	}
	if r.Name == "" {
		return apperr.Invalidf("name", "required", "name: required")
	}
	if in.Role != nil {
		if !slices.Contains([]Role{RoleProcessor, RoleSubProcessor, RoleController}, *in.Role) {
			return apperr.Invalidf("role", "invalid_role", "role: processor, sub_processor or controller")
		}
		r.Role = *in.Role
	}
	if in.Purposes != nil {
		r.Purposes = []string{}
		for _, id := range *in.Purposes {
			if _, err := tx.PurposeByID(ctx, id); err != nil {
				if apperr.Is(err, apperr.NotFound) {
					return apperr.Invalidf("purposes", "unknown_purpose", "purposes: %q is not a purpose", id)
				}
				return err
			}
			if !slices.Contains(r.Purposes, id) {
				r.Purposes = append(r.Purposes, id)
			}
		}
	}
	if in.DataCategories != nil {
		r.DataCategories = []string{}
		for _, f := range *in.DataCategories {
			if !slices.Contains(contact.Columns, f) {
				return apperr.Invalidf("data_categories", "unknown_field", "data_categories: %q is not a contact field (%s)", f, strings.Join(contact.Columns, ", "))
			}
			if !slices.Contains(r.DataCategories, f) {
				r.DataCategories = append(r.DataCategories, f)
			}
		}
	}
	if in.Country != nil {
		c := strings.ToUpper(strings.TrimSpace(*in.Country))
		reg, err := language.ParseRegion(c)
		if len(c) != 2 || err != nil || !reg.IsCountry() {
			return apperr.Invalidf("country", "invalid_country", "country: an ISO 3166-1 alpha-2 country code such as SE")
		}
		r.Country = reg.Canonicalize().String() // UK → GB
	}
	if r.Country == "" {
		return apperr.Invalidf("country", "required", "country: where the recipient processes the data (ISO 3166-1 alpha-2)")
	}
	if in.TransferMechanism != nil {
		if !slices.Contains([]string{TransferAdequacy, TransferSCC, TransferBCR, TransferNone}, *in.TransferMechanism) {
			return apperr.Invalidf("transfer_mechanism", "invalid_mechanism", "transfer_mechanism: adequacy, scc, bcr or none")
		}
		r.TransferMechanism = *in.TransferMechanism
	}
	if in.DPFCertified != nil {
		r.DPFCertified = *in.DPFCertified
	}
	if r.TransferMechanism == TransferAdequacy && !slices.Contains(eea, r.Country) && !slices.Contains(adequate, r.Country) {
		return apperr.Invalidf("transfer_mechanism", "no_adequacy_decision", "transfer_mechanism: %s has no adequacy decision (GDPR Art. 45); use scc or bcr", r.Country)
	}
	if r.DPFCertified && r.Country != "US" {
		return apperr.Invalidf("dpf_certified", "not_us", "dpf_certified: the EU-US Data Privacy Framework certifies organisations in the United States (country US) only")
	}
	if r.TransferMechanism == TransferAdequacy && r.Country == "US" && !r.DPFCertified {
		return apperr.Invalidf("transfer_mechanism", "not_dpf_certified", "transfer_mechanism: the adequacy decision for the United States covers only organisations certified under the EU-US Data Privacy Framework; set dpf_certified, or use scc or bcr")
	}
	if in.DPAStatus != nil {
		if !slices.Contains([]string{DPARequested, DPASigned, DPAExpired}, *in.DPAStatus) {
			return apperr.Invalidf("dpa_status", "invalid_status", "dpa_status: requested, signed or expired")
		}
		r.DPAStatus = *in.DPAStatus
	}
	if in.DPASignedAt != nil {
		t := in.DPASignedAt.UTC()
		r.DPASignedAt = &t
	}
	if in.DPAExpiresAt != nil {
		t := in.DPAExpiresAt.UTC()
		r.DPAExpiresAt = &t
	}
	if r.DPAStatus == DPASigned && r.DPASignedAt == nil {
		return apperr.Invalidf("dpa_signed_at", "required", "dpa_signed_at: when the agreement was signed")
	}
	if r.DPASignedAt != nil && r.DPASignedAt.After(s.Now()) {
		return apperr.Invalidf("dpa_signed_at", "in_future", "dpa_signed_at: may not lie in the future (an agreement not yet signed lets no data through)")
	}
	if r.DPASignedAt != nil && r.DPAExpiresAt != nil && !r.DPAExpiresAt.After(*r.DPASignedAt) {
		return apperr.Invalidf("dpa_expires_at", "before_signed", "dpa_expires_at: must be after dpa_signed_at")
	}
	if in.DPADocument != nil {
		r.DPADocument = strings.TrimSpace(*in.DPADocument)
	}
	if in.ContactEmail != nil {
		r.ContactEmail = strings.TrimSpace(*in.ContactEmail)
		if r.ContactEmail != "" {
			norm, err := normalize.Email(r.ContactEmail)
			if err != nil {
				return apperr.Invalidf("contact_email", "invalid_email", "contact_email: not an e-mail address")
			}
			r.ContactEmail = norm
		}
	}
	if in.WebhookURL != nil {
		u, err := url.Parse(*in.WebhookURL)
		loopback := err == nil && u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost" || u.Hostname() == "::1")
		if *in.WebhookURL != "" && (err != nil || u.Host == "" || u.Scheme != "https" && !loopback) {
			return apperr.Invalidf("webhook_url", "invalid_url", "webhook_url: an https:// URL (http:// only on this machine's loopback)")
		}
		if err == nil && u.User != nil {
			return apperr.Invalidf("webhook_url", "credentials_in_url", "webhook_url: no user or password in the URL; events are signed with webhook_secret")
		}
		if ip, perr := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); perr == nil && !PublicOrLoopback(ip) {
			return apperr.Invalidf("webhook_url", "private_address", "webhook_url: a private or link-local address cannot receive events")
		}
		r.WebhookURL = *in.WebhookURL
	}
	return nil
}

// sealSecret seals a new webhook secret under the processor's data key, creating the key for a
// new processor.
func (s *Service) sealSecret(ctx context.Context, tx Tx, r *Record, secret *string, created bool) error {
	var dk *keys.DataKey
	if created {
		k, wrapped, err := s.Keys.NewDataKey(r.ID, 1)
		if err != nil {
			return err
		}
		if err := tx.InsertDataKey(ctx, r.ID, 1, wrapped, s.Now().UTC()); err != nil {
			return err
		}
		dk, r.KeyVersion = k, 1
	}
	if secret == nil {
		return nil
	}
	if len(strings.TrimSpace(*secret)) < 16 && *secret != "" {
		return apperr.Invalidf("webhook_secret", "too_short", "webhook_secret: at least 16 characters")
	}
	if dk == nil {
		version, wrapped, err := tx.DataKey(ctx, r.ID)
		if err != nil {
			return err
		}
		if dk, err = s.Keys.OpenDataKey(r.ID, version, wrapped); err != nil {
			return err
		}
	}
	var err error
	r.WebhookSecret, err = dk.Seal("processors", "webhook_secret", r.ID, []byte(*secret))
	r.HasWebhookSecret = *secret != ""
	return err
}

// changed lists the field names an input sets (for audit events).
func changed(in Input) []string {
	var f []string
	add := func(set bool, name string) {
		if set {
			f = append(f, name)
		}
	}
	add(in.Name != nil, "name")
	add(in.Role != nil, "role")
	add(in.Purposes != nil, "purposes")
	add(in.DataCategories != nil, "data_categories")
	add(in.Country != nil, "country")
	add(in.TransferMechanism != nil, "transfer_mechanism")
	add(in.DPFCertified != nil, "dpf_certified")
	add(in.DPAStatus != nil, "dpa_status")
	add(in.DPASignedAt != nil, "dpa_signed_at")
	add(in.DPAExpiresAt != nil, "dpa_expires_at")
	add(in.DPADocument != nil, "dpa_document")
	add(in.ContactEmail != nil, "contact_email")
	add(in.WebhookURL != nil, "webhook_url")
	add(in.WebhookSecret != nil, "webhook_secret")
	return f
}

// Request is a disclosure asked for (POST /api/v1/disclosures).
type Request struct {
	ContactID   string   `json:"contact_id"`
	ProcessorID string   `json:"processor_id"`
	Purpose     string   `json:"purpose"`
	Fields      []string `json:"fields"`
}

// Refusal is the error of a refused disclosure: Forbidden with Reason, which says which
// condition failed. The refusal is recorded and audited before it is returned.
func refusal(reason, msg string) error {
	return &apperr.Error{Kind: apperr.Forbidden, Reason: reason, Message: msg}
}

// Disclose gives the recipient the contact's fields for the purpose, or refuses (Forbidden with
// the reason): purpose_not_assigned, dpa_missing, dpa_expired, no_transfer_mechanism,
// field_not_agreed, or the consent gate's reason (restricted, objected, no_consent, withdrawn,
// expired, suppressed, …). Checked in that order, at this moment, in one transaction with the
// read. An allowed disclosure is audited as "share.disclose" with the field names, the only
// fields decrypted (no "contact.read" of the rest); a refusal as "share.refuse"; both are recorded for the
// person's access bundle. Invalid for a request without fields or with an unknown field;
// NotFound for an unknown contact or processor.
func (s *Service) Disclose(ctx context.Context, rq Request) (map[string]any, error) {
	if len(rq.Fields) == 0 {
		return nil, apperr.Invalidf("fields", "required", "fields: the contact fields to disclose")
	}
	rq.Fields = slices.Compact(slices.Sorted(slices.Values(rq.Fields)))
	for _, f := range rq.Fields {
		if !slices.Contains(contact.Columns, f) {
			return nil, apperr.Invalidf("fields", "unknown_field", "fields: %q is not a contact field (%s)", f, strings.Join(contact.Columns, ", "))
		}
	}
	var data map[string]any
	var refused error
	err := s.Store.Update(ctx, func(tx Tx) error {
		p, err := tx.ProcessorByID(ctx, rq.ProcessorID)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.NotFound, "processor not found")
		}
		if err != nil {
			return err
		}
		purpose, err := tx.PurposeByID(ctx, rq.Purpose)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
		}
		if err != nil {
			return err
		}
		rec, err := tx.ContactByID(ctx, rq.ContactID)
		if err != nil {
			return err
		}
		now := s.Now().UTC()
		reason, msg := s.check(p, rq, now)
		if reason == "" {
			f, err := tx.GateFacts(ctx, rq.ContactID, rq.Purpose)
			if err != nil {
				return err
			}
			if d := consent.Decide(purpose, f, now); !d.Allowed {
				reason, msg = string(d.Reason), fmt.Sprintf("the consent gate refuses the purpose for this contact (%s)", d.Reason)
			}
		}
		a := audit.ActorFrom(ctx)
		rec2 := Disclosure{ID: s.NewID(), ContactID: rq.ContactID, ProcessorID: p.ID, Purpose: rq.Purpose, Fields: rq.Fields,
			Allowed: reason == "", Reason: reason, Actor: a.Kind + ":" + a.ID, At: now}
		if reason == "" {
			rec2.Reason = "allowed"
		}
		if err := tx.InsertDisclosure(ctx, rec2); err != nil {
			return err
		}
		action := "share.disclose"
		if reason != "" {
			action = "share.refuse"
			refused = refusal(reason, msg)
		}
		// The fields, then whom they went (or would have gone) to and, for a refusal, why: ids
		// and reasons, never values.
		ev := audit.New(ctx, now, action, "contact", rq.ContactID, append(slices.Clone(rq.Fields), "processor:"+p.ID)...)
		if reason != "" {
			ev.Fields = append(ev.Fields, "reason:"+reason)
		}
		ev.Purpose = rq.Purpose
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		if reason != "" {
			return nil // the refusal is recorded; the caller gets it after the commit
		}
		c, err := s.Contacts.OpenFieldsIn(ctx, tx, rec, rq.Fields)
		if err != nil {
			return err
		}
		data = pick(c, rq.Fields)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, refused
}

// check applies the register's conditions: purpose, DPA, transfer and fields.
func (s *Service) check(p *Record, rq Request, now time.Time) (reason, msg string) {
	switch {
	case p.EndedAt != nil:
		return ReasonEnded, "the engagement with the recipient has ended"
	case !slices.Contains(p.Purposes, rq.Purpose):
		return ReasonPurposeNotAssigned, "the recipient was not engaged for this purpose"
	case p.DPAStatus == DPAExpired || p.DPAStatus == DPASigned && p.DPAExpiresAt != nil && !now.Before(*p.DPAExpiresAt):
		return ReasonDPAExpired, "the recipient's " + agreement(p.Role) + " has expired"
	case p.DPAStatus != DPASigned:
		return ReasonDPAMissing, "the recipient has no signed " + agreement(p.Role)
	case !slices.Contains(eea, p.Country) && p.TransferMechanism == TransferNone:
		return ReasonNoTransfer, "the recipient is outside the EEA without adequacy, SCC or BCR (GDPR Art. 44)"
	}
	for _, f := range rq.Fields {
		if !slices.Contains(p.DataCategories, f) {
			return ReasonFieldNotAgreed, fmt.Sprintf("the field %s is not among the recipient's data categories", f)
		}
	}
	return "", ""
}

// agreement names the agreement the register's dpa_status tracks for a recipient of this role:
// a processor's or sub-processor's data processing agreement (GDPR Art. 28(3), 28(4)); for
// another controller, the data sharing agreement that sets out the terms and each party's
// responsibilities (Art. 26 for joint controllers; Art. 28 does not apply).
func agreement(r Role) string {
	if r == RoleController {
		return "data sharing agreement (controller to controller; GDPR Art. 26 where the controllers are joint)"
	}
	return "data processing agreement (GDPR Art. 28(3))"
}

// pick returns the asked fields of c by their API names.
func pick(c contact.Contact, fields []string) map[string]any {
	all := map[string]any{
		"email": c.Email, "first_name": c.FirstName, "last_name": c.LastName, "phone": c.Phone, "company": c.Company,
		"title": c.Title, "address": c.Address, "birthday": c.Birthday, "notes": c.Notes, "custom": c.Custom,
		"tags": c.Tags, "external_ids": c.ExternalIDs,
	}
	out := map[string]any{"id": c.ID}
	for _, f := range fields {
		out[f] = all[f]
	}
	return out
}

// ReadShared is a processor's read of a contact shared with it (processor-scoped tokens): the
// fields it was given by allowed disclosures, for the purposes that are still allowed now, each
// checked again as at disclosure (purpose still the processor's, DPA signed and unexpired,
// transfer mechanism, consent gate). Audited as "share.read". NotFound when nothing was ever
// disclosed to this processor about the contact (its existence is not confirmed); Forbidden with
// the reason when every purpose it was shared for is no longer allowed (withdrawn, restricted, …).
func (s *Service) ReadShared(ctx context.Context, processorID, contactID string) (map[string]any, error) {
	var data map[string]any
	var refused error
	err := s.Store.Update(ctx, func(tx Tx) error {
		ds, err := tx.DisclosuresOf(ctx, contactID)
		if err != nil {
			return err
		}
		byPurpose := map[string][]string{}
		var purposes []string
		for _, d := range ds {
			if !d.Allowed || d.ProcessorID != processorID {
				continue
			}
			if _, ok := byPurpose[d.Purpose]; !ok {
				purposes = append(purposes, d.Purpose)
			}
			for _, f := range d.Fields {
				if !slices.Contains(byPurpose[d.Purpose], f) {
					byPurpose[d.Purpose] = append(byPurpose[d.Purpose], f)
				}
			}
		}
		if len(purposes) == 0 {
			return apperr.New(apperr.NotFound, "contact not found")
		}
		p, err := tx.ProcessorByID(ctx, processorID)
		if err != nil {
			return err
		}
		rec, err := tx.ContactByID(ctx, contactID)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.NotFound, "contact not found") // erased
		}
		if err != nil {
			return err
		}
		now := s.Now().UTC()
		var fields []string
		lastReason := ""
		for _, purpose := range purposes {
			// Fields the processor may no longer receive are left out, the rest still served.
			byPurpose[purpose] = slices.DeleteFunc(byPurpose[purpose], func(f string) bool { return !slices.Contains(p.DataCategories, f) })
			reason, _ := s.check(p, Request{Purpose: purpose, Fields: byPurpose[purpose]}, now)
			if reason == "" && len(byPurpose[purpose]) == 0 {
				reason = ReasonFieldNotAgreed
			}
			if reason == "" {
				pp, err := tx.PurposeByID(ctx, purpose)
				if err != nil {
					return err
				}
				f, err := tx.GateFacts(ctx, contactID, purpose)
				if err != nil {
					return err
				}
				if d := consent.Decide(pp, f, now); !d.Allowed {
					reason = string(d.Reason)
				}
			}
			if reason != "" {
				lastReason = reason
				continue
			}
			for _, f := range byPurpose[purpose] {
				if !slices.Contains(fields, f) {
					fields = append(fields, f)
				}
			}
		}
		if len(fields) == 0 {
			ev := audit.New(ctx, now, "share.read_refused", "contact", contactID, "processor:"+processorID, "reason:"+lastReason)
			refused = refusal(lastReason, "the contact was shared for purposes that are no longer allowed")
			return tx.AppendAudit(ctx, &ev)
		}
		ev := audit.New(ctx, now, "share.read", "contact", contactID, append(slices.Clone(fields), "processor:"+processorID)...)
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		c, err := s.Contacts.OpenFieldsIn(ctx, tx, rec, fields)
		if err != nil {
			return err
		}
		data = pick(c, fields)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, refused
}
