package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
)

// State is a consent state, as a W3C DPV term.
type State string

// Consent states (W3C DPV consent status concepts).
const (
	Requested State = "dpv:ConsentRequested"
	Given     State = "dpv:ConsentGiven"
	Refused   State = "dpv:ConsentRefused"
	Withdrawn State = "dpv:ConsentWithdrawn"
	Expired   State = "dpv:ConsentExpired"
)

// States lists every valid State.
var States = []State{Requested, Given, Refused, Withdrawn, Expired}

// Method is how a consent event was collected (DESIGN §2).
type Method string

// Collection methods.
const (
	MethodWebForm     Method = "web-form"
	MethodDoubleOptIn Method = "double-opt-in"
	MethodImport      Method = "import"
	MethodStaff       Method = "staff"
	MethodAPI         Method = "api"
	MethodOneClick    Method = "one-click-unsubscribe"
	MethodGPC         Method = "gpc"
	// MethodSuppression: a withdrawal carried over from an address-wide suppression of the
	// person's own making (a complaint, RFC 5965; an unsubscribe from everything) when their new
	// double opt-in lifts it for the purposes they confirmed: the others stay withdrawn, dated at
	// the suppression (GDPR Art. 7(3)). Tillit records it; clients cannot.
	MethodSuppression Method = "suppression"
)

// Methods lists every valid Method.
var Methods = []Method{MethodWebForm, MethodDoubleOptIn, MethodImport, MethodStaff, MethodAPI, MethodOneClick, MethodGPC, MethodSuppression}

// MethodList is Methods as text for error messages: "web-form, double-opt-in, …".
func MethodList() string {
	out := make([]string, len(Methods))
	for i, m := range Methods {
		out[i] = string(m)
	}
	return strings.Join(out, ", ")
}

// Lawful bases as W3C DPV terms, with the GDPR article each stands for.
const (
	BasisConsent            = "dpv:Consent"            // GDPR Art. 6(1)(a)
	BasisContract           = "dpv:Contract"           // Art. 6(1)(b)
	BasisLegalObligation    = "dpv:LegalObligation"    // Art. 6(1)(c)
	BasisVitalInterest      = "dpv:VitalInterest"      // Art. 6(1)(d)
	BasisPublicTask         = "dpv:PublicTask"         // Art. 6(1)(e)
	BasisLegitimateInterest = "dpv:LegitimateInterest" // Art. 6(1)(f)
)

// LawfulBases lists every valid lawful basis.
var LawfulBases = []string{BasisConsent, BasisContract, BasisLegalObligation, BasisVitalInterest, BasisPublicTask, BasisLegitimateInterest}

// Purpose is why personal data is processed.
type Purpose struct {
	ID            string `json:"id"` // slug: lower-case letters, digits and '-'
	Name          string `json:"name"`
	Description   string `json:"description"` // the notice text shown to people
	LawfulBasis   string `json:"lawful_basis"`
	RetentionDays int    `json:"retention_days"` // 0: kept while the basis lasts
	DoubleOptIn   bool   `json:"double_opt_in"`
	// ConsentValidDays, when above 0, is how long a consent lasts: older consent counts as
	// expired (treated as absent) and shows on the re-permission list.
	ConsentValidDays int `json:"consent_valid_days"`
	// DirectMarketing marks processing for direct marketing: an objection to it is absolute
	// (GDPR Art. 21(3)), whatever the lawful basis.
	DirectMarketing bool `json:"direct_marketing"`
	// SaleOrSharing marks disclosure for sale or sharing: a Global Privacy Control signal
	// (Sec-GPC: 1) records an objection to it.
	SaleOrSharing bool `json:"sale_or_sharing"`
	// StaffApproval makes consent recorded by staff count only after a second staff member
	// approves it.
	StaffApproval bool `json:"staff_approval"`
	// Acceptance marks a purpose that records the acceptance of the terms of service: its events
	// are consent events carrying the accepted version, whatever its lawful basis (usually
	// dpv:Contract), and the gate asks for an accepted, current version.
	Acceptance bool      `json:"acceptance"`
	CreatedAt  time.Time `json:"created_at"`
}

// NoticeHash returns the hex SHA-256 of the purpose's notice text (name and description), which a
// consent event records as the text the person saw.
func (p Purpose) NoticeHash() string {
	sum := sha256.Sum256([]byte(p.Name + "\n\n" + p.Description))
	return hex.EncodeToString(sum[:])
}

// Validate checks a purpose's fields; errors name the field.
func (p Purpose) Validate() error {
	if !validSlug(p.ID) {
		return apperr.Invalidf("id", "invalid_id", "id: use 1 to 64 lower-case letters, digits and '-', not starting or ending with '-'")
	}
	if strings.TrimSpace(p.Name) == "" {
		return apperr.Invalidf("name", "required", "name: required")
	}
	if utf8.RuneCountInString(p.Name) > 200 {
		return apperr.Invalidf("name", "too_long", "name: at most 200 characters")
	}
	if utf8.RuneCountInString(p.Description) > 20000 {
		return apperr.Invalidf("description", "too_long", "description: at most 20000 characters")
	}
	if !contains(LawfulBases, p.LawfulBasis) {
		return apperr.Invalidf("lawful_basis", "invalid_lawful_basis", "lawful_basis: must be one of the DPV terms dpv:Consent, dpv:Contract, dpv:LegalObligation, dpv:VitalInterest, dpv:PublicTask, dpv:LegitimateInterest")
	}
	if p.ConsentValidDays < 0 || p.ConsentValidDays > 36500 {
		return apperr.Invalidf("consent_valid_days", "invalid_validity", "consent_valid_days: from 0 (no expiry) to 36500")
	}
	if p.RetentionDays < 0 || p.RetentionDays > 36500 {
		return apperr.Invalidf("retention_days", "invalid_retention", "retention_days: from 0 (kept while the basis lasts) to 36500")
	}
	return nil
}

// DefaultPurpose is the purpose that exists from first start: the newsletter, on consent, with
// double opt-in.
func DefaultPurpose(now time.Time) Purpose {
	return Purpose{
		ID: "newsletter", Name: "Newsletter",
		Description: "We send you our newsletter by e-mail. You can unsubscribe at any time with one click.",
		LawfulBasis: BasisConsent, DoubleOptIn: true, DirectMarketing: true, CreatedAt: now.UTC(),
	}
}

// TermsPurpose is the purpose that exists from first start for accepting the terms of service.
func TermsPurpose(now time.Time) Purpose {
	return Purpose{
		ID: "terms-of-service", Name: "Terms of service",
		Description: "You accept our terms of service, which govern the service we provide to you.",
		LawfulBasis: BasisContract, Acceptance: true, CreatedAt: now.UTC(),
	}
}

// ConsentBased reports whether the gate asks for a given consent (or acceptance) for p.
func (p Purpose) ConsentBased() bool { return p.LawfulBasis == BasisConsent || p.Acceptance }

// Lapsed reports whether a consent given at given has outlived p's ConsentValidDays at now
// (the gate then answers expired); never when p sets no validity.
func (p Purpose) Lapsed(given, now time.Time) bool {
	return p.ConsentValidDays > 0 && !now.Before(given.AddDate(0, 0, p.ConsentValidDays))
}

// Subscribable reports whether p is mail a person can subscribe to and unsubscribe from: based on
// consent (GDPR Art. 6(1)(a)) and not the acceptance of terms, which is a contract.
func (p Purpose) Subscribable() bool { return p.LawfulBasis == BasisConsent && !p.Acceptance }

// Evidence is what proves a consent event (ISO/IEC TS 27560 "evidence"): the IP address and user
// agent of the opt-in and confirmation steps, a form id and a note. It is personal data and is
// stored sealed under the contact's data key.
type Evidence struct {
	IP          string     `json:"ip,omitempty"`
	UserAgent   string     `json:"user_agent,omitempty"`
	OptinTime   *time.Time `json:"optin_time,omitempty"`
	OptinIP     string     `json:"optin_ip,omitempty"`
	ConfirmTime *time.Time `json:"confirm_time,omitempty"`
	ConfirmIP   string     `json:"confirm_ip,omitempty"`
	FormID      string     `json:"form_id,omitempty"`
	Source      string     `json:"source,omitempty"` // for example "mailchimp import, line 7"
	Note        string     `json:"note,omitempty"`
}

// Event is one consent ledger entry.
type Event struct {
	ID             string            `json:"id"`
	ContactID      string            `json:"contact_id"`
	Purpose        string            `json:"purpose"`
	State          State             `json:"state"`
	Method         Method            `json:"method"`
	PolicyVersions map[string]string `json:"policy_versions"`
	NoticeHash     string            `json:"notice_hash"`
	OccurredAt     time.Time         `json:"occurred_at"`
	RecordedAt     time.Time         `json:"recorded_at"`
	Actor          string            `json:"actor"` // "token:<id>", "cli:import", "public"
	Evidence       Evidence          `json:"evidence"`
	// Approval is "pending" for staff-recorded consent of a purpose with staff_approval until a
	// second staff member approves it ("approved"); "" otherwise. A pending event is not the
	// current state.
	Approval   string `json:"approval,omitempty"`
	ApprovedBy string `json:"approved_by,omitempty"`
}

// Current is the projected state of one contact for one purpose.
type Current struct {
	ContactID      string            `json:"-"`
	Purpose        string            `json:"purpose"`
	State          State             `json:"state"`
	LawfulBasis    string            `json:"lawful_basis"`
	Method         Method            `json:"method"`
	OccurredAt     time.Time         `json:"occurred_at"`
	PolicyVersions map[string]string `json:"policy_versions"`
	EventID        string            `json:"event_id"`
	// NeedsReconsent is set when a material new version of a policy document replaced the
	// version this consent was given under; a new consent clears it.
	NeedsReconsent bool `json:"needs_reconsent"`
}

// Supersedes reports whether event e replaces the projected state cur (nil: none yet).
func Supersedes(e Event, cur *Current) bool {
	if cur == nil {
		return true
	}
	if e.State == Requested && cur.State == Given {
		return false
	}
	return !e.OccurredAt.Before(cur.OccurredAt)
}

// Leaving is what a person's leaving a purpose's list records (Purpose.Leaving).
type Leaving int

// What leaving a list records.
const (
	LeaveNothing  Leaving = iota // not mail one subscribes to: the acceptance of terms, a contract, a legal obligation
	LeaveWithdraw                // consent-based: dpv:ConsentWithdrawn for the purpose (GDPR Art. 7(3))
	LeaveObject                  // direct marketing on another basis (legitimate interest): an objection to the purpose (Art. 21(2)-(3))
)

// Leaving returns what leaving p's list records: a withdrawal of consent, an objection to direct
// marketing on another basis, or nothing for a purpose that is no mailing list (the acceptance of
// terms is a contract, which an unsubscribe never ends). It concerns p only: the unsubscribe
// link, the preference center and an imported unsubscribed row all have the scope of their
// purpose, and leave every other purpose as it was. An address is suppressed for every purpose
// only by what concerns the address itself: a bounce, a complaint, an erasure (Suppression).
func (p Purpose) Leaving() Leaving {
	switch {
	case p.Acceptance:
		return LeaveNothing
	case p.LawfulBasis == BasisConsent:
		return LeaveWithdraw
	case p.DirectMarketing:
		return LeaveObject
	}
	return LeaveNothing
}

// PurposeUnsubscribe is an address's unsubscribe from one purpose's list as an import reports
// it (a Mailchimp unsubscribed row), kept by the address's keyed suppression hash (no personal
// data) so that it holds for whoever has or will have the address: it stands as a withdrawal
// for that purpose (an objection, for a purpose not based on consent) until the person's own
// later consent (Facts.Effective). It never concerns another purpose.
type PurposeUnsubscribe struct {
	Hash       []byte
	Purpose    string
	At         time.Time // when the person unsubscribed, UTC
	RecordedAt time.Time // when it was recorded here (the import), UTC: what ledger export --since reads
}

// Suppression reasons.
const (
	SuppressionUnsubscribed = "unsubscribed"
	SuppressionBounced      = "bounced"
	SuppressionComplained   = "complained"
	SuppressionErased       = "erased"
	SuppressionObjected     = "objected"
	// SuppressionRestricted: processing of the person's data is restricted (GDPR Art. 18), or
	// their verified restriction request is open, and the store does not hold them: written by
	// tillit ledger replay for a person a restored backup lacks, so that no import re-creates
	// them and nothing mails them. Like every entry, only their own confirmed double opt-in
	// lifts it.
	SuppressionRestricted = "restricted"
)

// SuppressionReasons lists every suppression reason (DESIGN §2; restricted is Tillit's own).
var SuppressionReasons = []string{SuppressionUnsubscribed, SuppressionBounced, SuppressionComplained, SuppressionErased, SuppressionObjected, SuppressionRestricted}

// Suppression is one entry of the suppression list: a keyed hash of a normalized address.
// CreatedAt is when the event happened (the bounce, the erasure; for an imported cleaned row the
// file's CLEAN_TIME, which may be long before the import); RecordedAt is when Tillit recorded the
// entry (zero: the store sets the time of the write), which tillit ledger export --since reads.
type Suppression struct {
	Hash       []byte
	Reason     string
	CreatedAt  time.Time
	RecordedAt time.Time
}

// ValidID reports whether s can be a purpose id: 1 to 64 lower-case letters, digits and '-', not
// starting or ending with '-'.
func ValidID(s string) bool { return validSlug(s) }

func validSlug(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Objection scopes: a purpose id, or ScopeDirectMarketing for every direct-marketing purpose.
const ScopeDirectMarketing = "direct_marketing"

// Objection is a person's objection to processing (GDPR Art. 21): to one purpose, or to direct
// marketing as a whole (absolute, Art. 21(3)). It lasts until lifted.
type Objection struct {
	ContactID  string    `json:"contact_id"`
	Scope      string    `json:"scope"` // a purpose id or "direct_marketing"
	Method     Method    `json:"method"`
	OccurredAt time.Time `json:"occurred_at"`
	RecordedAt time.Time `json:"recorded_at"`
	Actor      string    `json:"actor"`
}

// Change is one entry of the stream of consent changes (given, withdrawn, refused, expired,
// requested, objected, objection_lifted, needs_reconsent) that processors are told about. It holds
// ids and states, never personal data.
type Change struct {
	Seq        int64     `json:"seq"`
	ContactID  string    `json:"contact_id"`
	Purpose    string    `json:"purpose"` // a purpose id, or "direct_marketing" for such objections
	Change     string    `json:"change"`
	OccurredAt time.Time `json:"occurred_at"`
	RecordedAt time.Time `json:"recorded_at"`
}

// changeName is the stream's word for a consent state.
func changeName(s State) string {
	switch s {
	case Given:
		return "given"
	case Withdrawn:
		return "withdrawn"
	case Refused:
		return "refused"
	case Expired:
		return "expired"
	default:
		return "requested"
	}
}

// ChangeFor returns the stream entry for an event that became the current state.
func ChangeFor(e Event) Change {
	return Change{ContactID: e.ContactID, Purpose: e.Purpose, Change: changeName(e.State), OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt}
}
