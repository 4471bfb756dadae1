package optin

import (
	"context"

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

// ChangePreference applies a choice made on the preference center for the holder of an
// unsubscribe link: unsubscribe withdraws at once (method web-form, OutcomeWithdrawn); subscribe
// starts a double opt-in (the person confirms from their mailbox) and returns what it did, as
// RequestIn does (OutcomeConfirm only when the confirmation was queued; no note is sent: the
// page itself tells its holder). A GPC signal records its objections. An unknown token, purpose
// or action changes nothing (OutcomeNone).
func (s *Service) ChangePreference(ctx context.Context, secret, purpose, action, ip, userAgent string, gpc bool) (Outcome, error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "preferences"})
	ref, known, err := refOf(s.Keys, secret)
	if !known || err != nil {
		return OutcomeNone, err
	}
	out := OutcomeNone
	err = s.Store.Update(ctx, func(tx Tx) error {
		out = OutcomeNone
		l, found, err := ref.in(ctx, tx)
		if !found || err != nil {
			return err
		}
		contactID := l.ContactID
		rec, err := tx.ContactByID(ctx, contactID)
		if apperr.Is(err, apperr.NotFound) {
			return nil // erased: a sealed link outlives its contact, and names no one now
		}
		if err != nil {
			return err
		}
		if gpc {
			if _, err := s.Consent.ApplyGPCIn(ctx, tx, contactID); err != nil {
				return err
			}
		}
		p, err := tx.PurposeByID(ctx, purpose)
		if apperr.Is(err, apperr.NotFound) || (err == nil && !p.Subscribable()) {
			return nil
		}
		if err != nil {
			return err
		}
		switch action {
		case ActionUnsubscribe:
			_, err := s.Consent.RecordIn(ctx, tx, consent.Event{ContactID: contactID, Purpose: p.ID, State: consent.Withdrawn, Method: consent.MethodWebForm,
				Evidence: consent.Evidence{IP: ip, UserAgent: userAgent, FormID: "preferences"}})
			out = OutcomeWithdrawn
			return err
		case ActionSubscribe:
			c, err := s.Contacts.OpenIn(ctx, tx, rec)
			if err != nil {
				return err
			}
			out, err = s.RequestIn(ctx, tx, contactID, Request{Email: c.Email, Purposes: []string{p.ID}, FormID: "preferences", IP: ip, UserAgent: userAgent}, "")
			return err
		}
		return nil
	})
	if err != nil {
		return OutcomeNone, err
	}
	if out == OutcomeConfirm {
		s.wake()
	}
	return out, nil
}
