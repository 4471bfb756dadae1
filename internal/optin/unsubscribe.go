package optin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"

	"github.com/tillit/tillit/internal/token"
)

// LinkKind says what using an unsubscribe link records.
type LinkKind string

// The kinds of unsubscribe link.
const (
	// LinkUnsubscribe is a marketing message's link: using it withdraws consent (GDPR Art. 7(3)),
	// or objects to direct marketing on legitimate interest (Art. 21(2)-(3)).
	LinkUnsubscribe LinkKind = "unsubscribe"
	// LinkRefuse is a consent request's link: using it records dpv:ConsentRefused, and a
	// consent-request campaign does not ask the person again.
	LinkRefuse LinkKind = "refuse"
)

// Link is what an unsubscribe token names: one contact, one purpose and what its use records.
type Link struct {
	ContactID string
	Purpose   string
	Kind      LinkKind
}

// UnsubscribeTx is what one-click unsubscribe needs from a store transaction.
type UnsubscribeTx interface {
	consent.Tx
	InsertUnsubscribeToken(ctx context.Context, hash []byte, l Link, at time.Time) error
	UnsubscribeToken(ctx context.Context, hash []byte) (Link, error) // NotFound when none
}

// UnsubscribeStore runs serialized transactions.
type UnsubscribeStore interface {
	Update(ctx context.Context, fn func(UnsubscribeTx) error) error
}

// Unsubscribe mints and honours one-click unsubscribe links (RFC 8058).
type Unsubscribe struct {
	Store   UnsubscribeStore
	Consent *consent.Service
	Now     func() time.Time
	BaseURL string
}

// Links are what a marketing message carries to let its recipient leave with one click.
type Links struct {
	URL string // https://…/u/<token>: GET shows a page, POST unsubscribes (RFC 8058 §3.1)
	// Preferences is https://…/p/preferences/<token>: the person's preference center (same token).
	Preferences string
	Headers     map[string]string
}

// MintIn makes an opaque token naming the contact and purpose (it carries no address or id) and
// returns the link and the RFC 2369 / RFC 8058 headers: List-Unsubscribe with the HTTPS URL and,
// when mailto is not empty, a mailto: address; and List-Unsubscribe-Post: List-Unsubscribe=One-Click.
// Using the link withdraws consent (LinkUnsubscribe).
func (u *Unsubscribe) MintIn(ctx context.Context, tx UnsubscribeTx, contactID, purpose, mailto string) (Links, error) {
	return u.mintIn(ctx, tx, Link{ContactID: contactID, Purpose: purpose, Kind: LinkUnsubscribe}, mailto)
}

// MintRefusalIn is MintIn for a consent request: using the link records dpv:ConsentRefused
// (LinkRefuse), so the person is not asked again.
func (u *Unsubscribe) MintRefusalIn(ctx context.Context, tx UnsubscribeTx, contactID, purpose, mailto string) (Links, error) {
	return u.mintIn(ctx, tx, Link{ContactID: contactID, Purpose: purpose, Kind: LinkRefuse}, mailto)
}

func (u *Unsubscribe) mintIn(ctx context.Context, tx UnsubscribeTx, l Link, mailto string) (Links, error) {
	raw := make([]byte, token.SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return Links{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	if err := tx.InsertUnsubscribeToken(ctx, hashUnsubscribe(secret), l, u.Now().UTC()); err != nil {
		return Links{}, err
	}
	base := strings.TrimSuffix(u.BaseURL, "/")
	link := base + "/u/" + secret
	list := "<" + link + ">"
	if mailto != "" {
		list += ", <mailto:" + mailto + "?subject=unsubscribe>"
	}
	return Links{URL: link, Preferences: base + "/p/preferences/" + secret, Headers: map[string]string{
		"List-Unsubscribe":      list,
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}}, nil
}

// Scope returns the purpose a token names and what using it records, for the page that GET
// /u/{token} shows; ok is false for an unknown token. It changes nothing.
func (u *Unsubscribe) Scope(ctx context.Context, secret string) (p consent.Purpose, kind LinkKind, ok bool, err error) {
	if !token.WellFormedLink(secret) {
		return p, "", false, nil
	}
	err = u.Store.Update(ctx, func(tx UnsubscribeTx) error {
		l, err := tx.UnsubscribeToken(ctx, hashUnsubscribe(secret))
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if p, err = tx.PurposeByID(ctx, l.Purpose); err != nil {
			return err
		}
		kind, ok = l.Kind, true
		return nil
	})
	return p, kind, ok, err
}

// Withdraw honours POST /u/{token}: it withdraws consent for the token's purpose at once
// (dpv:ConsentWithdrawn, method one-click-unsubscribe, GDPR Art. 7(3)), idempotently. A consent
// request's link (LinkRefuse) records dpv:ConsentRefused instead, unless the person has given
// a valid consent since (then their "no" withdraws it); a consent-request campaign does not ask
// them again. It tells the caller nothing about the token: an unknown token, an erased contact
// or a "no" recorded already all succeed without a change.
//
// gpc is a Global Privacy Control signal on the request: it also records an objection to every
// sale-or-sharing purpose, as on any public form.
func (u *Unsubscribe) Withdraw(ctx context.Context, secret, ip, userAgent string, gpc bool) error {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "unsubscribe"})
	if !token.WellFormedLink(secret) {
		return nil
	}
	return u.Store.Update(ctx, func(tx UnsubscribeTx) error {
		l, err := tx.UnsubscribeToken(ctx, hashUnsubscribe(secret))
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		contactID, purpose := l.ContactID, l.Purpose
		if gpc {
			if _, err := u.Consent.ApplyGPCIn(ctx, tx, contactID); err != nil {
				if apperr.Is(err, apperr.NotFound) {
					return nil // erased meanwhile
				}
				return err
			}
		}
		p, err := tx.PurposeByID(ctx, purpose)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		switch p.Leaving() { // the scope of the link is its purpose, whatever else the person receives
		case consent.LeaveNothing:
			return nil // not a mailing list: the acceptance of terms is a contract, which an unsubscribe never ends
		case consent.LeaveObject:
			// Direct marketing on legitimate interest: unsubscribing is an objection, which
			// stops it absolutely (GDPR Art. 21(2)-(3)).
			err := u.Consent.ObjectIn(ctx, tx, contactID, p.ID, consent.MethodOneClick)
			if apperr.Is(err, apperr.NotFound) || apperr.Is(err, apperr.Invalid) {
				return nil // erased meanwhile, or not direct marketing any more
			}
			return err
		}
		f, err := tx.GateFacts(ctx, contactID, purpose)
		if apperr.Is(err, apperr.NotFound) {
			return nil // erased meanwhile
		}
		if err != nil {
			return err
		}
		state := noState(l.Kind, p, f.Current, u.Now())
		if state == "" {
			return nil // one click is enough: a second changes nothing
		}
		_, err = u.Consent.RecordIn(ctx, tx, consent.Event{
			ContactID: contactID, Purpose: purpose, State: state, Method: consent.MethodOneClick,
			Evidence: consent.Evidence{IP: ip, UserAgent: userAgent},
		})
		if apperr.Is(err, apperr.NotFound) {
			return nil // erased meanwhile
		}
		return err
	})
}

// noState is the state a "no" by a link of kind records over cur (nil: none) for consent-based
// purpose p at now, or "" when the "no" is on record already. An unsubscribe link withdraws
// (GDPR Art. 7(3)); a consent request's link refuses the consent it asked for, or withdraws one
// the person has given since and that still stands.
func noState(kind LinkKind, p consent.Purpose, cur *consent.Current, now time.Time) consent.State {
	if cur != nil && (cur.State == consent.Withdrawn || kind == LinkRefuse && cur.State == consent.Refused) {
		return ""
	}
	if kind == LinkRefuse && !consent.Decide(p, consent.Facts{Current: cur}, now).Allowed {
		return consent.Refused
	}
	return consent.Withdrawn
}

func hashUnsubscribe(secret string) []byte {
	h := sha256.Sum256([]byte("tillit:unsubscribe:" + secret))
	return h[:]
}
