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
	OutcomeRestricted  Outcome = "restricted"   // processing is restricted (GDPR Art. 18): nothing recorded or queued
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
	restricted bool // GDPR Art. 18: nothing is asked or recorded
	confirm    []consent.Purpose
	received   []consent.Purpose
	objected   []consent.Purpose
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
		if f.Restricted {
			return signup{restricted: true}, nil
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
	case pl.restricted:
		return OutcomeRestricted
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
	if pl.restricted {
		return []string{"The processing of your data is restricted at your request (GDPR Art. 18), so nothing was recorded for this sign-up. To have the restriction lifted, write to us: the privacy notice at " + privacy + " says how."}
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
