package optin

import (
	"context"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/consent"
)

// Outcome says what a subscription request did: which message, if any, went to the address.
// A public page states only what is true of its outcome, and /p/subscribe, which must not tell
// whether an address is known, only what is true of every outcome (no page claims a mail that
// was not sent).
type Outcome string

// The outcomes.
const (
	OutcomeNone        Outcome = ""             // nothing was asked: an unknown link, purpose or action
	OutcomeWithdrawn   Outcome = "withdrawn"    // the preference center withdrew consent (GDPR Art. 7(3))
	OutcomeConfirm     Outcome = "confirm"      // a confirmation link was queued
	OutcomeNote        Outcome = "note"         // nothing to confirm: a note saying why was queued (the public form)
	OutcomeSubscribed  Outcome = "subscribed"   // every purpose asked for is received already: nothing queued
	OutcomeObjected    Outcome = "objected"     // nothing to confirm, and some purpose is objected to (GDPR Art. 21): nothing queued
	OutcomeHeld        Outcome = "held"         // the contact is held (consent.Facts.Hold: restricted, or an erasure or restriction request open): nothing recorded or queued
	OutcomeRateLimited Outcome = "rate_limited" // a sign-up message went to the address less than ResendAfter ago: nothing queued
)

// Kinds of the sign-up messages (mail.Message.Kind); one of either goes to an address at most
// every ResendAfter.
const (
	KindConfirm = "optin.confirm" // a confirmation link (double opt-in)
	KindNote    = "optin.note"    // a sign-up with nothing to confirm: why
)

// standing is where one purpose of a sign-up stands for the person.
type standing int

const (
	toConfirm  standing = iota // the person's confirmation gives (or renews) the consent: a link is sent
	received                   // consent given, valid and current, the address not suppressed: nothing to confirm
	objectedTo                 // the person objected (GDPR Art. 21): a consent would change nothing
)

// standingOf classifies purpose p for a sign-up from the gate's facts f at now. A suppressed
// address needs the confirmation whatever consent is on record: a suppression (bounce,
// complaint, unsubscribe, erasure) is lifted only by the person's own new double opt-in
// (DESIGN §2), so an old consent never stands in for it.
func standingOf(p consent.Purpose, f consent.Facts, now time.Time) standing {
	if f.ObjectedPurpose || f.ObjectedDM && p.DirectMarketing {
		return objectedTo
	}
	if consent.Decide(p, consent.Facts{Current: f.Current, UnsubscribedAt: f.UnsubscribedAt, Suppressed: f.Suppressed, PendingApproval: f.PendingApproval}, now).Allowed {
		return received
	}
	return toConfirm
}

// signup is a sign-up's plan: the purposes a confirmation asks for and why the others need none.
type signup struct {
	hold     consent.Reason // consent.Facts.Hold: nothing is asked or recorded
	confirm  []consent.Purpose
	received []consent.Purpose
	objected []consent.Purpose
	// keep are the purposes whose withdrawal or refusal stays on record until the person confirms:
	// anyone can post an address to the form, and an unconfirmed request must not hide their "no".
	keep map[string]bool
}

// planIn reads where each of ids stands for the contact.
func (s *Service) planIn(ctx context.Context, tx Tx, contactID string, ids []string) (signup, error) {
	pl := signup{keep: map[string]bool{}}
	now := s.Now()
	for _, id := range ids {
		f, err := tx.GateFacts(ctx, contactID, id)
		if err != nil {
			return signup{}, err
		}
		if h := f.Hold(); h != "" {
			return signup{hold: h}, nil
		}
		p, err := tx.PurposeByID(ctx, id)
		if err != nil {
			return signup{}, err
		}
		switch standingOf(p, f, now) {
		case received:
			pl.received = append(pl.received, p)
		case objectedTo:
			pl.objected = append(pl.objected, p)
		default:
			pl.confirm = append(pl.confirm, p)
			if c := f.Effective(p); c != nil && (c.State == consent.Withdrawn || c.State == consent.Refused) {
				pl.keep[id] = true
			}
		}
	}
	return pl, nil
}

// outcome is what the plan calls for before the rate limit: OutcomeConfirm when a purpose needs
// the person's confirmation, else why none does.
func (pl signup) outcome() Outcome {
	switch {
	case pl.hold != "":
		return OutcomeHeld
	case len(pl.confirm) > 0:
		return OutcomeConfirm
	case len(pl.objected) > 0:
		return OutcomeObjected
	}
	return OutcomeSubscribed
}

// lines says, a paragraph each, why the purposes outside the confirmation need none; privacy is
// the privacy notice's address, which says how to reach the controller.
func (pl signup) lines(privacy string) []string {
	if pl.hold != "" {
		return []string{HeldNote(pl.hold, "this sign-up", privacy)}
	}
	var out []string
	for _, p := range pl.received {
		out = append(out, "You already receive \u201c"+p.Name+"\u201d: nothing changed. Every message has a link to unsubscribe with one click.")
	}
	for _, p := range pl.objected {
		out = append(out, "You objected to \u201c"+p.Name+"\u201d (GDPR Art. 21), so we do not send it. To withdraw your objection, write to us: the privacy notice at "+privacy+" says how.")
	}
	return out
}

// Hold is a hold (consent.Facts.Hold) in the words of the public pages: State, a clause ("the
// processing of your data is restricted (GDPR Art. 18)"), Until, when use may resume ("until
// the restriction is lifted"), and Remedy, what the person can do ("To have the restriction
// lifted, write to us"). The words say only what is known: a restriction may be set by staff,
// so it is not said to be the person's own.
type Hold struct{ State, Until, Remedy string }

// HoldWords returns the words of hold h; the zero Hold for "".
func HoldWords(h consent.Reason) Hold {
	switch h {
	case consent.ReasonRestricted:
		return Hold{"the processing of your data is restricted (GDPR Art. 18)", "until the restriction is lifted", "To have the restriction lifted, write to us"}
	case consent.ReasonErasureRequested:
		return Hold{"your request to erase your data (GDPR Art. 17) is open", "until it is answered", "To withdraw the request, write to us"}
	case consent.ReasonRestrictionRequested:
		return Hold{"your request to restrict the processing of your data (GDPR Art. 18) is open", "until it is answered", "To withdraw the request, write to us"}
	}
	return Hold{}
}

// HeldNote is one paragraph saying that nothing was recorded for what ("this sign-up", "your
// confirmation") because of hold h, and what the person can do; privacy is the privacy
// notice's address, which says how to reach the controller.
func HeldNote(h consent.Reason, what, privacy string) string {
	w := HoldWords(h)
	return strings.ToUpper(w.State[:1]) + w.State[1:] + ", so nothing was recorded for " + what + ": nothing is recorded or sent to you " + w.Until + ". " +
		w.Remedy + ": the privacy notice at " + privacy + " says how."
}

// limited reports whether a sign-up message (a confirmation or a note) went to the contact less
// than ResendAfter ago: one form must not flood a mailbox.
func (s *Service) limited(ctx context.Context, tx Tx, contactID string) (bool, error) {
	last, err := tx.LastMailAt(ctx, contactID, KindConfirm, KindNote)
	if err != nil {
		return false, err
	}
	return !last.IsZero() && s.Now().UTC().Sub(last) < s.resendAfter(), nil
}

func quoted(ps []consent.Purpose) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = "\u201c" + p.Name + "\u201d"
	}
	return strings.Join(names, ", ")
}
