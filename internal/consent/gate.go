package consent

import (
	"time"
)

// Reason says why the gate allowed or refused a use. The set is fixed and documented: clients may
// switch on it.
type Reason string

// The gate's reasons.
const (
	ReasonConsentGiven         Reason = "consent_given"             // allowed: consent given, valid and current
	ReasonNoConsent            Reason = "no_consent"                // refused: no consent recorded, or only requested (double opt-in pending)
	ReasonWithdrawn            Reason = "withdrawn"                 // refused: consent withdrawn (GDPR Art. 7(3))
	ReasonRefused              Reason = "refused"                   // refused: the person refused consent
	ReasonExpired              Reason = "expired"                   // refused: consent expired, by event or by the purpose's consent_valid_days
	ReasonNeedsReconsent       Reason = "needs_reconsent"           // refused: given under a policy version a material change replaced
	ReasonPendingApproval      Reason = "pending_approval"          // refused: staff-recorded consent awaiting a second staff member
	ReasonSuppressed           Reason = "suppressed"                // refused: the address is on the suppression list
	ReasonRestricted           Reason = "restricted"                // refused: processing restricted (GDPR Art. 18)
	ReasonObjected             Reason = "objected"                  // refused: the person objected (GDPR Art. 21)
	ReasonErasureRequested     Reason = "erasure_requested"         // refused: the person's verified erasure request (GDPR Art. 17) is open, from its verification until it is completed or rejected
	ReasonRestrictionRequested Reason = "restriction_requested"     // refused: the person's verified restriction request (GDPR Art. 18) is open, from its verification until it is completed (the restriction proper follows) or rejected
	ReasonBasisContract        Reason = "basis_contract"            // allowed: GDPR Art. 6(1)(b)
	ReasonBasisLegal           Reason = "basis_legal_obligation"    // allowed: Art. 6(1)(c)
	ReasonBasisVital           Reason = "basis_vital_interest"      // allowed: Art. 6(1)(d)
	ReasonBasisPublicTask      Reason = "basis_public_task"         // allowed: Art. 6(1)(e)
	ReasonBasisLegitimate      Reason = "basis_legitimate_interest" // allowed: Art. 6(1)(f)
)

// Reasons lists every Reason, for documentation and tests.
var Reasons = []Reason{
	ReasonConsentGiven, ReasonNoConsent, ReasonWithdrawn, ReasonRefused, ReasonExpired, ReasonNeedsReconsent,
	ReasonPendingApproval, ReasonSuppressed, ReasonRestricted, ReasonErasureRequested, ReasonRestrictionRequested, ReasonObjected,
	ReasonBasisContract, ReasonBasisLegal, ReasonBasisVital, ReasonBasisPublicTask, ReasonBasisLegitimate,
}

var basisReasons = map[string]Reason{
	BasisContract:           ReasonBasisContract,
	BasisLegalObligation:    ReasonBasisLegal,
	BasisVitalInterest:      ReasonBasisVital,
	BasisPublicTask:         ReasonBasisPublicTask,
	BasisLegitimateInterest: ReasonBasisLegitimate,
}

// Facts are what the gate needs to know about one contact beyond its consent state.
type Facts struct {
	Current         *Current // the projected state for the purpose; nil when none
	Suppressed      bool     // the contact's e-mail is on the suppression list
	Restricted      bool     // processing restricted (GDPR Art. 18)
	ObjectedPurpose bool     // the person objected to this purpose (GDPR Art. 21(1))
	ObjectedDM      bool     // the person objected to direct marketing (GDPR Art. 21(2)-(3))
	PendingApproval bool     // staff-recorded consent for the purpose waits for a second staff member
	// UnsubscribedAt is when an import said the contact's address left this purpose's list (the
	// latest such time, PurposeUnsubscribe); nil when none.
	UnsubscribedAt *time.Time
	// ErasureRequested and RestrictionRequested: a request of that type (GDPR Art. 17, 18) is
	// verified (bound to the contact, by the person's link or by staff) and still open.
	ErasureRequested     bool
	RestrictionRequested bool
}

// Effective returns the consent state on record for p as the gate reads it: Current, or a
// dpv:ConsentWithdrawn (method import) at UnsubscribedAt when the address left p's list after
// Current or with no state on record (for a consent-based p). nil when there is neither.
func (f Facts) Effective(p Purpose) *Current {
	u := f.UnsubscribedAt
	if u == nil || p.Leaving() != LeaveWithdraw || (f.Current != nil && !f.Current.OccurredAt.Before(*u)) {
		return f.Current
	}
	c := &Current{Purpose: p.ID, State: Withdrawn, LawfulBasis: p.LawfulBasis, Method: MethodImport, OccurredAt: *u}
	if f.Current != nil {
		c.ContactID = f.Current.ContactID
	}
	return c
}

// Hold says why no purpose may use the contact's data now, whatever their consent: processing
// is restricted (ReasonRestricted, GDPR Art. 18(1)), or a verified erasure or restriction
// request is open (ReasonErasureRequested, ReasonRestrictionRequested; Art. 17, 18). "" when
// none holds. Decide refuses with it first; the public pages (sign-up, confirmation, preference
// center) record nothing for a held contact and say which hold it is.
func (f Facts) Hold() Reason {
	switch {
	case f.Restricted:
		return ReasonRestricted
	case f.ErasureRequested:
		return ReasonErasureRequested
	case f.RestrictionRequested:
		return ReasonRestrictionRequested
	}
	return ""
}

// Decision is the gate's answer for one contact, purpose and moment.
type Decision struct {
	Allowed     bool   `json:"allowed"`
	State       State  `json:"state,omitempty"` // the consent state on record, if any
	LawfulBasis string `json:"lawful_basis"`
	Reason      Reason `json:"reason"`
}

// Decide is the consent gate: the one rule every use of personal data for a purpose (sending,
// disclosing, exporting to a processor) goes through, at the moment of use. In order:
//
//  1. restriction refuses everything (GDPR Art. 18(1)), and so does a verified erasure or
//     restriction request that is still open: the person asked for their data to stop being
//     used, and it stops from the moment the request is verified, not a month later when it is
//     answered (Art. 17, 18; reasons erasure_requested, restriction_requested);
//  2. an objection to direct marketing refuses every direct-marketing purpose, whatever its
//     basis (Art. 21(3)); an objection to the purpose refuses it (Art. 21(1)), and so does an
//     imported unsubscribe from the list of a purpose not based on consent (Purpose.Leaving);
//  3. a suppressed address refuses consent-based and direct-marketing purposes (it is never
//     mailed again);
//  4. a purpose whose basis is not consent is allowed by that basis (Art. 6(1)(b)-(f)), except a
//     purpose that records acceptance of the terms, which needs an accepted, current version;
//  5. a consent-based purpose is allowed only by a given consent that is approved, not expired
//     (by event or by consent_valid_days) and not marked for re-consent (Art. 6(1)(a), 7); the
//     state read is Facts.Effective (an imported unsubscribe from the purpose's list withdraws).
func Decide(p Purpose, f Facts, now time.Time) Decision {
	d := Decision{LawfulBasis: p.LawfulBasis}
	c := f.Effective(p)
	if c != nil {
		d.State = c.State
	}
	if h := f.Hold(); h != "" {
		d.Reason = h
		return d
	}
	switch {
	case p.DirectMarketing && f.ObjectedDM, f.ObjectedPurpose, f.UnsubscribedAt != nil && p.Leaving() == LeaveObject:
		d.Reason = ReasonObjected
		return d
	case f.Suppressed && (p.LawfulBasis == BasisConsent || p.DirectMarketing):
		d.Reason = ReasonSuppressed
		return d
	}
	if r, ok := basisReasons[p.LawfulBasis]; ok && !p.Acceptance {
		d.Allowed, d.Reason = true, r
		return d
	}
	switch {
	case (c == nil || c.State != Given) && f.PendingApproval:
		d.Reason = ReasonPendingApproval
	case c == nil || c.State == Requested:
		d.Reason = ReasonNoConsent
	case c.State == Withdrawn:
		d.Reason = ReasonWithdrawn
	case c.State == Refused:
		d.Reason = ReasonRefused
	case c.State == Expired:
		d.Reason = ReasonExpired
	case c.State != Given:
		d.Reason = ReasonNoConsent
	case p.Lapsed(c.OccurredAt, now):
		d.Reason = ReasonExpired
	case c.NeedsReconsent:
		d.Reason = ReasonNeedsReconsent
	default:
		d.Allowed, d.Reason = true, ReasonConsentGiven
	}
	return d
}
