package consent

// KeptByAddress reports whether a suppression of reason is a choice of the person that the
// store keeps by address because it does not hold them (tillit ledger replay writes these for a
// person a restored backup lacks): an objection to direct marketing (SuppressionObjected, GDPR
// Art. 21(3)) or a restriction (SuppressionRestricted, Art. 18). Such an entry is that choice,
// not a suppression a sign-up lifts: the person's own confirmed double opt-in to a purpose
// lifts neither, as it lifts neither an objection nor a restriction of a contact (live, the
// sign-up answers "You objected" or the restriction note, and records nothing).
func KeptByAddress(reason string) bool {
	return reason == SuppressionObjected || reason == SuppressionRestricted
}

// SetSuppression sets the facts of the suppression list entry of the contact's address, reason
// one of SuppressionReasons ("" when the address is not suppressed): the one rule for what an
// entry means to the gate and the public pages. An entry KeptByAddress is the person's choice
// as if made on the contact: objected sets ObjectedDM, restricted sets Restricted; every other
// reason sets Suppressed.
func (f *Facts) SetSuppression(reason string) {
	switch reason {
	case "":
	case SuppressionObjected:
		f.ObjectedDM = true
	case SuppressionRestricted:
		f.Restricted = true
	default:
		f.Suppressed = true
	}
}
