package optin

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
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
	// Hash is the keyed suppression hash of the contact's address when the link was made
	// (keys.IndexSize bytes; nil in a token sealed before links carried it, and in the rows of
	// random tokens): using the link of a contact the store no longer holds (a restore from a
	// backup older than the mail) records the choice by address (withdrawByAddress).
	Hash []byte
}

// UnsubscribeTx is what one-click unsubscribe needs from a store transaction.
type UnsubscribeTx interface {
	consent.Tx
	// InsertUnsubscribeToken stores the hash of a random token and what it names: how links
	// were made before they were sealed (LinkKeys). Nothing mints such tokens now; the rows of
	// those in mail already sent are read by UnsubscribeToken and deleted with their contact.
	InsertUnsubscribeToken(ctx context.Context, hash []byte, l Link, at time.Time) error
	UnsubscribeToken(ctx context.Context, hash []byte) (Link, error)     // NotFound when none
	ContactByID(ctx context.Context, id string) (*contact.Record, error) // NotFound when absent
}

// UnsubscribeStore runs serialized transactions.
type UnsubscribeStore interface {
	Update(ctx context.Context, fn func(UnsubscribeTx) error) error
}

// Unsubscribe mints and honours one-click unsubscribe links (RFC 8058).
type Unsubscribe struct {
	Store   UnsubscribeStore
	Consent *consent.Service
	// Keys seals the links' tokens (nil: a link is made by no one and only the rows of older
	// random tokens are honoured).
	Keys    LinkKeys
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

// MintIn makes the token of a link naming the contact and purpose, sealed by Keys (it shows no
// address nor id, and needs no row, so a restore of an older backup does not lose it), and
// returns the link and the RFC 2369 / RFC 8058 headers: List-Unsubscribe with the HTTPS URL and,
// when mailto is not empty, a mailto: address; and List-Unsubscribe-Post: List-Unsubscribe=One-Click.
// Using the link withdraws consent (LinkUnsubscribe). tx is not written.
func (u *Unsubscribe) MintIn(ctx context.Context, tx UnsubscribeTx, contactID, purpose, mailto string) (Links, error) {
	return u.mintIn(ctx, tx, Link{ContactID: contactID, Purpose: purpose, Kind: LinkUnsubscribe}, mailto)
}

// MintRefusalIn is MintIn for a consent request: using the link records dpv:ConsentRefused
// (LinkRefuse), so the person is not asked again.
func (u *Unsubscribe) MintRefusalIn(ctx context.Context, tx UnsubscribeTx, contactID, purpose, mailto string) (Links, error) {
	return u.mintIn(ctx, tx, Link{ContactID: contactID, Purpose: purpose, Kind: LinkRefuse}, mailto)
}

// mintIn seals l with the suppression hash of its contact's address (Link.Hash), read in tx.
// NotFound when the store does not hold the contact.
func (u *Unsubscribe) mintIn(ctx context.Context, tx UnsubscribeTx, l Link, mailto string) (Links, error) {
	rec, err := tx.ContactByID(ctx, l.ContactID)
	if err != nil {
		return Links{}, err
	}
	l.Hash = rec.SuppressionHash
	return u.mint(l, mailto)
}

func (u *Unsubscribe) mint(l Link, mailto string) (Links, error) {
	if u.Keys == nil {
		return Links{}, errors.New("optin: no keys to seal an unsubscribe link")
	}
	secret, err := sealLink(u.Keys, l)
	if err != nil {
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
// /u/{token} shows; ok is false for a token that names nothing: not one of ours, or an older
// random token whose row is gone, or one whose purpose is gone, or whose contact is gone and
// that carries no address hash or one of an erased address (Link.Hash: with one, Withdraw
// records the choice by address).
// It changes nothing.
func (u *Unsubscribe) Scope(ctx context.Context, secret string) (p consent.Purpose, kind LinkKind, ok bool, err error) {
	ref, known, err := refOf(u.Keys, secret)
	if !known || err != nil {
		return p, "", false, err
	}
	err = u.Store.Update(ctx, func(tx UnsubscribeTx) error {
		l, found, err := ref.in(ctx, tx)
		if !found || err != nil {
			return err
		}
		if _, err := tx.GateFacts(ctx, l.ContactID, l.Purpose); apperr.Is(err, apperr.NotFound) {
			// Erased, or gone in a restore: with the address hash Withdraw records the "no"
			// by address, unless the address was erased.
			if l.Hash == nil {
				return nil
			}
			if erased, err := erasedAddress(ctx, tx, l.Hash); erased || err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if p, err = tx.PurposeByID(ctx, l.Purpose); apperr.Is(err, apperr.NotFound) {
			return nil
		} else if err != nil {
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
// them again. ok reports whether the token names a link of a contact we hold: true whether the
// click changed anything or the "no" was recorded already; false for a token that is not one of
// ours, an older random token whose row is gone, or a contact gone with no address hash in the
// token (an older token), so the page never says a choice was recorded when it was not. A token
// with a hash whose contact is gone records the choice by address (withdrawByAddress).
//
// gpc is a Global Privacy Control signal on the request: it also records an objection to every
// sale-or-sharing purpose, as on any public form.
func (u *Unsubscribe) Withdraw(ctx context.Context, secret, ip, userAgent string, gpc bool) (ok bool, err error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "unsubscribe"})
	ref, known, err := refOf(u.Keys, secret)
	if !known || err != nil {
		return false, err
	}
	err = u.Store.Update(ctx, func(tx UnsubscribeTx) error {
		ok = false
		l, found, err := ref.in(ctx, tx)
		if !found || err != nil {
			return err
		}
		ok, err = u.withdrawIn(ctx, tx, l, ip, userAgent, gpc)
		return err
	})
	return ok && err == nil, err
}

// withdrawIn records the "no" of link l in tx; ok is false when its contact or purpose is gone
// or the purpose is not one a person leaves (the acceptance of terms).
func (u *Unsubscribe) withdrawIn(ctx context.Context, tx UnsubscribeTx, l Link, ip, userAgent string, gpc bool) (ok bool, err error) {
	f, err := tx.GateFacts(ctx, l.ContactID, l.Purpose)
	if apperr.Is(err, apperr.NotFound) {
		return u.withdrawByAddress(ctx, tx, l, ip, userAgent, gpc)
	}
	if err != nil {
		return false, err
	}
	p, err := tx.PurposeByID(ctx, l.Purpose)
	if apperr.Is(err, apperr.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if gpc {
		if _, err := u.Consent.ApplyGPCIn(ctx, tx, l.ContactID); err != nil {
			return false, err
		}
	}
	switch p.Leaving() { // the scope of the link is its purpose, whatever else the person receives
	case consent.LeaveNothing:
		return false, nil // not a mailing list: the acceptance of terms is a contract, which an unsubscribe never ends
	case consent.LeaveObject:
		// Direct marketing on legitimate interest: unsubscribing is an objection, which
		// stops it absolutely (GDPR Art. 21(2)-(3)).
		err := u.Consent.ObjectIn(ctx, tx, l.ContactID, p.ID, consent.MethodOneClick)
		if apperr.Is(err, apperr.Invalid) {
			return false, nil // not direct marketing any more
		}
		return err == nil, err
	}
	state := noState(l.Kind, p, f.Current, u.Now())
	if state == "" {
		return true, nil // one click is enough: a second changes nothing
	}
	_, err = u.Consent.RecordIn(ctx, tx, consent.Event{
		ContactID: l.ContactID, Purpose: l.Purpose, State: state, Method: consent.MethodOneClick,
		Evidence: consent.Evidence{IP: ip, UserAgent: userAgent},
	})
	return err == nil, err
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
