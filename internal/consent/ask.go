package consent

// Askable reports whether a person whose gate decision for a consent-based purpose has reason r
// may be asked for that consent by a consent-request campaign: nothing valid is on record
// (no_consent: none, or requested and not answered), or the consent lapsed (expired,
// needs_reconsent). Anyone who said no (withdrawn, refused, objected), may not be processed
// (restricted, suppressed, or a reason added later) or agreed already is not asked. Whether a
// person with no history at all may be asked is the campaign's own choice (ePrivacy Directive
// Art. 13: a request for marketing consent is itself direct marketing).
func Askable(r Reason) bool {
	return r == ReasonNoConsent || r == ReasonExpired || r == ReasonNeedsReconsent
}

// Ask says whether a consent-request campaign asks a person (AskOf).
type Ask int

// The answers of AskOf.
const (
	AskNot       Ask = iota // not asked: agreed already, said no or may not be processed (the decision's reason says which)
	AskYes                  // asked: the consent lapsed (expired, needs_reconsent) or was requested and not answered
	AskNoHistory            // no consent history for the purpose: asked only if the campaign chose to (ePrivacy Directive Art. 13)
)

// AskOf is the rule of whom a consent-request campaign asks, from the gate's decision d and
// facts f for its purpose (see Askable). The campaign's walk and the re-permission list
// (Service.Repermission, "whom a consent-request campaign asks") both apply it.
func AskOf(d Decision, f Facts) Ask {
	switch {
	case d.Allowed || !Askable(d.Reason):
		return AskNot
	case d.Reason != ReasonNoConsent:
		return AskYes // expired, needs_reconsent
	case f.Current == nil:
		return AskNoHistory
	case f.Current.State == Requested:
		return AskYes
	}
	return AskNot
}
