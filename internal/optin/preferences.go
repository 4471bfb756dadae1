package optin

import (
	"context"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
)

// Choice is one purpose on the preference center: what it is and whether the person receives it.
type Choice struct {
	ID          string
	Name        string
	Description string
	Subscribed  bool // consent given and valid now (the gate allows it)
	// Objected: the person objected to this purpose or to direct marketing (GDPR Art. 21); a
	// subscription here would change nothing, so the page says how to withdraw the objection.
	Objected bool
	// Hold: no use of the person's data now (consent.Facts.Hold: restricted, GDPR Art. 18, or an
	// erasure or restriction request open, Art. 17, 18): nothing is sent and a subscription
	// records nothing until it ends ("" when none).
	Hold consent.Reason
	// Consented: consent is given on record (valid or not): only then is there a consent to
	// withdraw where the choice is not Subscribed.
	Consented bool
}

// Preferences lists the consent-based purposes (not the terms) with the person's current choice,
// for the holder of an unsubscribe link (the link in their own mail identifies them). ok is false
// for a token that names nothing (refOf, linkRef.in) or a contact erased. It records an audit event "preferences.read" and reads no personal field.
func (s *Service) Preferences(ctx context.Context, secret string) (choices []Choice, ok bool, err error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "preferences"})
	ref, known, err := refOf(s.Keys, secret)
	if !known || err != nil {
		return nil, false, err
	}
	err = s.Store.Update(ctx, func(tx Tx) error {
		choices = nil
		l, found, err := ref.in(ctx, tx)
		if !found || err != nil {
			return err
		}
		contactID := l.ContactID
		ps, err := tx.ListPurposes(ctx)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if !p.Subscribable() {
				continue
			}
			f, err := tx.GateFacts(ctx, contactID, p.ID)
			if apperr.Is(err, apperr.NotFound) {
				return nil // erased meanwhile
			}
			if err != nil {
				return err
			}
			c := f.Effective(p)
			choices = append(choices, Choice{ID: p.ID, Name: p.Name, Description: p.Description, Subscribed: consent.Decide(p, f, s.Now()).Allowed,
				Objected: f.ObjectedPurpose || f.ObjectedDM && p.DirectMarketing, Hold: f.Hold(), Consented: c != nil && c.State == consent.Given})
		}
		ok = true
		ev := audit.New(ctx, s.Now(), "preferences.read", "contact", contactID, "consent")
		return tx.AppendAudit(ctx, &ev)
	})
	return choices, ok, err
}

// Preference actions.
const (
	ActionUnsubscribe = "unsubscribe" // withdraw consent for the purpose at once (GDPR Art. 7(3))
	ActionSubscribe   = "subscribe"   // ask for consent by double opt-in: a confirmation mail
)

// Change is what a preference change did, for the page that answers it (no page claims a mail
// that was not sent, nor that a mail does what it does not).
type Change struct {
	Outcome Outcome
	// Purpose is the name of the purpose changed ("" for OutcomeNone).
	Purpose string
	// For OutcomeRateLimited: Sent names the purposes that the sign-up message sent last asks
	// the person to confirm (none when it was a note, which confirms nothing), and Wait is how
	// long until a new one can be asked for (at least a second).
	Sent []string
	Wait time.Duration
}

// ChangePreference applies a choice made on the preference center for the holder of an
// unsubscribe link: unsubscribe withdraws at once (method web-form, OutcomeWithdrawn); subscribe
// starts a double opt-in (the person confirms from their mailbox) and returns what it did, as
// RequestIn does (OutcomeConfirm only when the confirmation was queued; no note is sent: the
// page itself tells its holder). A subscription within ResendAfter of the last sign-up message
// sends nothing (OutcomeRateLimited, the limit that keeps a link's holder from filling the
// mailbox) and says what that message asks to confirm and when to ask again (Change.Sent,
// Change.Wait). A GPC signal records its objections. An unknown token, purpose or action
// changes nothing (OutcomeNone).
func (s *Service) ChangePreference(ctx context.Context, secret, purpose, action, ip, userAgent string, gpc bool) (Change, error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "preferences"})
	ref, known, err := refOf(s.Keys, secret)
	if !known || err != nil {
		return Change{}, err
	}
	var ch Change
	err = s.Store.Update(ctx, func(tx Tx) error {
		ch = Change{}
		l, found, err := ref.in(ctx, tx)
		if !found || err != nil {
			return err
		}
		ch, err = s.changeIn(ctx, tx, l.ContactID, purpose, action, ip, userAgent, gpc)
		return err
	})
	if err != nil {
		return Change{}, err
	}
	if ch.Outcome == OutcomeConfirm {
		s.wake()
	}
	return ch, nil
}

// changeIn applies the choice for contactID in tx (see ChangePreference).
func (s *Service) changeIn(ctx context.Context, tx Tx, contactID, purpose, action, ip, userAgent string, gpc bool) (Change, error) {
	rec, err := tx.ContactByID(ctx, contactID)
	if apperr.Is(err, apperr.NotFound) {
		return Change{}, nil // erased: a sealed link outlives its contact, and names no one now
	}
	if err != nil {
		return Change{}, err
	}
	if gpc {
		if _, err := s.Consent.ApplyGPCIn(ctx, tx, contactID); err != nil {
			return Change{}, err
		}
	}
	p, err := tx.PurposeByID(ctx, purpose)
	if apperr.Is(err, apperr.NotFound) || (err == nil && !p.Subscribable()) {
		return Change{}, nil
	}
	if err != nil {
		return Change{}, err
	}
	switch action {
	case ActionUnsubscribe:
		_, err := s.Consent.RecordIn(ctx, tx, consent.Event{ContactID: contactID, Purpose: p.ID, State: consent.Withdrawn, Method: consent.MethodWebForm,
			Evidence: consent.Evidence{IP: ip, UserAgent: userAgent, FormID: "preferences"}})
		return Change{Outcome: OutcomeWithdrawn, Purpose: p.Name}, err
	case ActionSubscribe:
		c, err := s.Contacts.OpenIn(ctx, tx, rec)
		if err != nil {
			return Change{}, err
		}
		out, err := s.RequestIn(ctx, tx, contactID, Request{Email: c.Email, Purposes: []string{p.ID}, FormID: "preferences", IP: ip, UserAgent: userAgent}, "")
		ch := Change{Outcome: out, Purpose: p.Name}
		if err == nil && out == OutcomeRateLimited {
			ch.Sent, ch.Wait, err = s.lastSignupIn(ctx, tx, contactID)
		}
		return ch, err
	}
	return Change{}, nil
}

// lastSignupIn returns the names of the purposes that the sign-up message sent last to the
// contact asks to confirm (none when it was a note: its time is after the newest confirmation
// link's) and how long until the next may go (ResendAfter after it, at least a second).
func (s *Service) lastSignupIn(ctx context.Context, tx Tx, contactID string) (sent []string, wait time.Duration, err error) {
	last, err := tx.LastMailAt(ctx, contactID, KindConfirm, KindNote)
	if err != nil {
		return nil, 0, err
	}
	wait = max(last.Add(s.resendAfter()).Sub(s.Now()), time.Second)
	t, err := tx.LastOptinToken(ctx, contactID)
	if apperr.Is(err, apperr.NotFound) || err == nil && t.CreatedAt.Before(last) {
		return nil, wait, nil
	}
	if err != nil {
		return nil, 0, err
	}
	for _, id := range t.Purposes {
		p, err := tx.PurposeByID(ctx, id)
		if apperr.Is(err, apperr.NotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		sent = append(sent, p.Name)
	}
	return sent, wait, nil
}
