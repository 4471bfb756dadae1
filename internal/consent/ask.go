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
