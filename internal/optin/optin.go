package optin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/normalize"
	"github.com/tillit/tillit/internal/token"
)

// Token is a double opt-in token as stored: its hash and what it confirms.
type Token struct {
	Hash           []byte
	ContactID      string
	Purposes       []string
	PolicyVersions map[string]string
	FormID         string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UsedAt         *time.Time
}

// Tx is what double opt-in needs from one store transaction.
type Tx interface {
	contact.Tx
	consent.Tx
	mail.Tx
	UnsubscribeTx
	InsertOptinToken(ctx context.Context, t Token) error
	OptinTokenByHash(ctx context.Context, hash []byte) (Token, error)    // NotFound when none
	LastOptinToken(ctx context.Context, contactID string) (Token, error) // the newest; NotFound when none
	UseOptinToken(ctx context.Context, hash []byte, at time.Time) error  // NotFound when used already
	// LastMailAt returns when the newest outbox message of one of kinds to the contact was
	// queued (zero when none).
	LastMailAt(ctx context.Context, contactID string, kinds ...string) (time.Time, error)
	DeleteSuppression(ctx context.Context, hashes ...[]byte) error
}

// Store runs serialized transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction that never waits for the writer (only reading
	// methods may be called in it).
	View(ctx context.Context, fn func(Tx) error) error
}

// Service runs double opt-in. Its fields are set once by internal/app.
type Service struct {
	Store    Store
	Contacts *contact.Service
	Consent  *consent.Service
	Outbox   *mail.Outbox
	Now      func() time.Time
	NewID    func() string
	// Keys opens the sealed tokens of the preference center's links (Unsubscribe.Keys).
	Keys     LinkKeys
	BaseURL  string        // public URL for links, such as https://crm.example.com
	TokenTTL time.Duration // default 72 h
	// ResendAfter is the least time between two confirmation mails to one address (default 2 min).
	ResendAfter time.Duration
	// Wake, when set, is told that mail is queued.
	Wake chan<- struct{}
	// AnswerAfter, when positive, paces Subscribe so that its time tells nothing about the
	// address (a reliability trial timed 1.45 ms for a confirmed subscriber against 3.12 ms for
	// an unknown address, whose lead, token and mail are written): Subscribe returns at the
	// first multiple of AnswerAfter after it started that its work has not overrun, so every
	// state (unknown, pending, confirmed, withdrawn, restricted, suppressed) answers at the same
	// moment, start + AnswerAfter, unless the work took longer (a stalled disk), when it answers
	// at the next multiple. Set it above the slowest path's time under load; 0 does not pace.
	AnswerAfter time.Duration
	// Sleep waits until the given time on Now's clock, or until ctx ends (default: a timer).
	Sleep func(ctx context.Context, until time.Time)
}

// DefaultAnswerAfter is the pace of a public sign-up (Service.AnswerAfter): 15 times the
// slowest path's 90th percentile in the trial (6.67 ms, on a loaded two-core machine), so a
// stall must last that long before an answer moves to the next step.
const DefaultAnswerAfter = 100 * time.Millisecond

// pace waits until the first multiple of AnswerAfter after start that is not before now.
func (s *Service) pace(ctx context.Context, start time.Time) {
	if s.AnswerAfter <= 0 {
		return
	}
	steps := s.Now().Sub(start)/s.AnswerAfter + 1
	until := start.Add(steps * s.AnswerAfter)
	if s.Sleep != nil {
		s.Sleep(ctx, until)
		return
	}
	t := time.NewTimer(until.Sub(s.Now()))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Request is one subscription request, as a public form sends it.
type Request struct {
	Email     string
	Purposes  []string // default ["newsletter"]
	FormID    string
	IP        string // from the connection, or a trusted proxy's header
	UserAgent string
	GPC       bool // Sec-GPC: 1 (Global Privacy Control)
	// Subject and Intro replace the standard confirmation wording (a consent-request campaign's
	// own subject and text); the confirmation link and its terms are always appended.
	Subject, Intro string
	// Refusal, when set, makes the mail a consent request that can be refused with one click: it
	// carries List-Unsubscribe (with Mailto, when set) and List-Unsubscribe-Post (RFC 2369,
	// RFC 8058) and a visible link, for the first purpose asked for, whose use records
	// dpv:ConsentRefused (Unsubscribe.Withdraw). A consent request asks for one purpose.
	Refusal *Unsubscribe
	Mailto  string

	recorded bool // ReconfirmIn recorded the requests itself
}

// Subscribe handles a subscription request: it finds or creates the contact (a lead) and, for
// the purposes the contact does not receive now (see RequestIn), records dpv:ConsentRequested and
// mails a confirmation link; when nothing needs confirming (every purpose received already or
// objected to, or the contact on hold: consent.Facts.Hold) it mails a short note saying why
// instead. Either way at most one such message goes to an address every ResendAfter. It answers
// nothing about the address: the caller shows the same page whatever happened, and that page is true because a
// message is queued in every case but the rate limit, which the page states. Invalid only for
// an address that does not normalize or an unknown or non-consent purpose. With AnswerAfter it
// returns at the same time after it started whatever the address's state.
func (s *Service) Subscribe(ctx context.Context, r Request) error {
	defer s.pace(ctx, s.Now())
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "subscribe"})
	if len(r.Purposes) == 0 {
		r.Purposes = []string{"newsletter"}
	}
	if len(r.Purposes) > 20 {
		return apperr.Invalidf("purposes", "too_many", "purposes: at most 20")
	}
	idx, _, err := s.Contacts.EmailHashes(r.Email)
	if err != nil {
		return err
	}
	queued := false
	err = s.Store.Update(ctx, func(tx Tx) error {
		for _, id := range r.Purposes {
			p, err := tx.PurposeByID(ctx, id)
			// Mail consent only: the acceptance of terms is a contract, not a subscription.
			if apperr.Is(err, apperr.NotFound) || (err == nil && !p.Subscribable()) {
				return apperr.Invalidf("purposes", "unknown_purpose", "purposes: no consent-based purpose with this id")
			}
			if err != nil {
				return err
			}
		}
		ids, err := tx.ContactIDsByEmailIndex(ctx, idx) // under every key of the blind-index keyset
		if err != nil {
			return err
		}
		contactID := ""
		for _, i := range idx {
			if contactID = ids[string(i)]; contactID != "" {
				break
			}
		}
		if contactID == "" {
			c, err := s.Contacts.CreateIn(ctx, tx, contact.Input{Kind: contact.KindLead, Email: r.Email, Source: "web-form"})
			if err != nil {
				return err
			}
			contactID = c.ID
		}
		if r.GPC {
			if _, err := s.Consent.ApplyGPCIn(ctx, tx, contactID); err != nil {
				return err
			}
		}
		pl, err := s.planIn(ctx, tx, contactID, r.Purposes)
		if err != nil {
			return err
		}
		out := pl.outcome()
		if out == OutcomeConfirm {
			out, err = s.confirmIn(ctx, tx, contactID, r, "", pl)
		} else {
			out, err = s.noteIn(ctx, tx, contactID, r, pl)
		}
		queued = out == OutcomeConfirm || out == OutcomeNote
		return err
	})
	if err == nil && queued {
		s.wake()
	}
	return err
}

// wake tells the outbox a confirmation mail is queued, without waiting.
func (s *Service) wake() {
	if s.Wake == nil {
		return
	}
	select {
	case s.Wake <- struct{}{}:
	default:
	}
}

// Describe returns the consent-based purposes among ids (default newsletter), in order, for a
// subscription form to name what it asks for; unknown ids are left out.
func (s *Service) Describe(ctx context.Context, ids []string) ([]consent.Purpose, error) {
	if len(ids) == 0 {
		ids = []string{"newsletter"}
	}
	var out []consent.Purpose
	// A read that never waits for the writer: GET /p/subscribe taking the write lock let its
	// time tell how long a sign-up just posted kept the lock, and so whether the address was known.
	err := s.Store.View(ctx, func(tx Tx) error {
		for _, id := range ids[:min(len(ids), 20)] {
			p, err := tx.PurposeByID(ctx, id)
			if apperr.Is(err, apperr.NotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if p.Subscribable() {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// Result says what a confirmation did.
type Result struct {
	Confirmed bool     // false: the token was unknown, used or expired, or the contact is held (nothing changed)
	Purposes  []string // the purposes confirmed
	// Held is the contact's hold (consent.Facts.Hold) when the token was usable but nothing was
	// recorded for it; the token stays unused until it expires.
	Held consent.Reason
}

// Peek reports whether the token is usable now, without using it, and the purposes it would
// confirm (the confirmation page names them and shows a button only then; it changes nothing).
func (s *Service) Peek(ctx context.Context, secret string) (purposes []consent.Purpose, ok bool, err error) {
	if !token.WellFormedLink(secret) {
		return nil, false, nil
	}
	err = s.Store.Update(ctx, func(tx Tx) error {
		t, err := tx.OptinTokenByHash(ctx, hashToken(secret))
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if ok = t.UsedAt == nil && s.Now().Before(t.ExpiresAt); !ok {
			return nil
		}
		for _, id := range t.Purposes {
			p, err := tx.PurposeByID(ctx, id)
			if err != nil {
				return err
			}
			purposes = append(purposes, p)
		}
		return nil
	})
	return purposes, ok, err
}

// Confirm uses the token: it records dpv:ConsentGiven (method double-opt-in) for each purpose with
// the confirming request's own time, IP and user agent, lifts a suppression of the address (the
// person's own new double opt-in), and writes "optin.confirm". An unknown, used or expired token
// changes nothing and is not an error; neither does a token of a held contact (restricted, or an
// erasure or restriction request open: consent.Facts.Hold), which records nothing and says why
// in Result.Held, like the sign-up of a held contact.
//
// gpc is a Global Privacy Control signal on the confirming request: it records an objection to
// every sale-or-sharing purpose, like on any public form.
func (s *Service) Confirm(ctx context.Context, secret, ip, userAgent string, gpc bool) (Result, error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "confirm"})
	var res Result
	if !token.WellFormedLink(secret) {
		return res, nil
	}
	h := hashToken(secret)
	err := s.Store.Update(ctx, func(tx Tx) error {
		t, err := tx.OptinTokenByHash(ctx, h)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.Now().UTC()
		if t.UsedAt != nil || !now.Before(t.ExpiresAt) {
			return nil
		}
		f, err := tx.GateFacts(ctx, t.ContactID, t.Purposes[0])
		if apperr.Is(err, apperr.NotFound) {
			return nil // erased meanwhile
		} else if err != nil {
			return err
		}
		if res.Held = f.Hold(); res.Held != "" {
			// Held since the link was sent (restricted, GDPR Art. 18, or an erasure or restriction
			// request open, Art. 17, 18): nothing is recorded, and the link is left unused.
			return nil
		}
		if err := tx.UseOptinToken(ctx, h, now); err != nil {
			if apperr.Is(err, apperr.NotFound) {
				return nil
			}
			return err
		}
		rec, err := tx.ContactByID(ctx, t.ContactID)
		if apperr.Is(err, apperr.NotFound) {
			return nil // erased meanwhile
		}
		if err != nil {
			return err
		}
		requested := t.CreatedAt
		for _, id := range t.Purposes {
			if _, err := s.Consent.RecordIn(ctx, tx, consent.Event{
				ContactID: t.ContactID, Purpose: id, State: consent.Given, Method: consent.MethodDoubleOptIn,
				PolicyVersions: t.PolicyVersions, OccurredAt: now,
				Evidence: consent.Evidence{IP: ip, UserAgent: userAgent, OptinTime: &requested, ConfirmTime: &now, ConfirmIP: ip, FormID: t.FormID},
			}); err != nil {
				return err
			}
		}
		if err := s.liftIn(ctx, tx, rec.SuppressionHash, t.ContactID, t.Purposes, now); err != nil {
			return err
		}
		if gpc {
			if _, err := s.Consent.ApplyGPCIn(ctx, tx, t.ContactID); err != nil {
				return err
			}
		}
		ev := audit.New(ctx, now, "optin.confirm", "contact", t.ContactID, "optin_token")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		res = Result{Confirmed: true, Purposes: t.Purposes}
		return nil
	})
	return res, err
}

// liftIn removes the suppression entry hash (the address of contactID), if there is one, with an
// audit event "suppression.lift": the person's own confirmed double opt-in is the one way back
// from a bounce, complaint, unsubscribe or erasure (DESIGN §2). A suppression that was the
// person's own "no" to everything (complained, unsubscribed) is lifted only for the purposes they
// confirmed: every other consent given before it is withdrawn as of the suppression (method
// suppression, GDPR Art. 7(3)), so confirming one list never revives another. An objection or a
// restriction kept by address (consent.KeptByAddress) is not lifted: a sign-up ends neither.
func (s *Service) liftIn(ctx context.Context, tx Tx, hash []byte, contactID string, confirmed []string, now time.Time) error {
	if hash == nil {
		return nil
	}
	sup, err := tx.Suppression(ctx, hash)
	if apperr.Is(err, apperr.NotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if consent.KeptByAddress(sup.Reason) {
		return nil
	}
	if sup.Reason == consent.SuppressionComplained || sup.Reason == consent.SuppressionUnsubscribed {
		if err := s.carryWithdrawalIn(ctx, tx, contactID, confirmed, sup); err != nil {
			return err
		}
	}
	if err := tx.DeleteSuppression(ctx, hash); err != nil {
		return err
	}
	ev := audit.New(ctx, now, "suppression.lift", "contact", contactID, "suppression")
	return tx.AppendAudit(ctx, &ev)
}

// carryWithdrawalIn records dpv:ConsentWithdrawn (method suppression, at the suppression's time)
// for every purpose of contactID not in confirmed whose consent was given before sup.
func (s *Service) carryWithdrawalIn(ctx context.Context, tx Tx, contactID string, confirmed []string, sup consent.Suppression) error {
	cur, err := tx.CurrentConsents(ctx, contactID)
	if err != nil {
		return err
	}
	for _, c := range cur {
		if c.State != consent.Given || slices.Contains(confirmed, c.Purpose) || !c.OccurredAt.Before(sup.CreatedAt) {
			continue
		}
		if _, err := s.Consent.RecordIn(ctx, tx, consent.Event{
			ContactID: contactID, Purpose: c.Purpose, State: consent.Withdrawn, Method: consent.MethodSuppression,
			OccurredAt: sup.CreatedAt, Evidence: consent.Evidence{Source: "suppression:" + sup.Reason},
		}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) currentPolicies(ctx context.Context, tx Tx) (map[string]string, error) {
	vs, err := tx.PolicyVersions(ctx)
	if err != nil {
		return nil, err
	}
	return consent.LoadPolicyState(vs, s.Now()).Current(), nil
}

func (s *Service) ttl() time.Duration {
	if s.TokenTTL > 0 {
		return s.TokenTTL
	}
	return 72 * time.Hour
}

func (s *Service) resendAfter() time.Duration {
	if s.ResendAfter > 0 {
		return s.ResendAfter
	}
	return 2 * time.Minute
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte("tillit:optin:" + secret))
	return h[:]
}

// RequestIn asks the contact for consent to r.Purposes by double opt-in: for the purposes the
// contact does not receive now (no consent, a lapsed one, or an address on the suppression
// list, which only the person's own confirmation lifts) it records dpv:ConsentRequested (never
// downgrading a given consent, never hiding a withdrawal or refusal) and queues a confirmation
// mail with a single-use link, unless a sign-up message went out less than ResendAfter ago. It
// returns OutcomeConfirm when the mail was queued, else why not (OutcomeRateLimited,
// OutcomeSubscribed, OutcomeObjected, OutcomeHeld); it queues no note. campaignID ties the
// mail to a consent-request campaign ("" for a form).
func (s *Service) RequestIn(ctx context.Context, tx Tx, contactID string, r Request, campaignID string) (Outcome, error) {
	pl, err := s.planIn(ctx, tx, contactID, r.Purposes)
	if err != nil {
		return OutcomeNone, err
	}
	if out := pl.outcome(); out != OutcomeConfirm {
		return out, nil
	}
	return s.confirmIn(ctx, tx, contactID, r, campaignID, pl)
}

// confirmIn queues the confirmation mail for pl.confirm (see RequestIn), unless rate limited.
func (s *Service) confirmIn(ctx context.Context, tx Tx, contactID string, r Request, campaignID string, pl signup) (Outcome, error) {
	if limited, err := s.limited(ctx, tx, contactID); err != nil || limited {
		return OutcomeRateLimited, err // the last message is still on its way; nothing is recorded
	}
	pending := make([]string, len(pl.confirm))
	for i, p := range pl.confirm {
		pending[i] = p.ID
		if pl.keep[p.ID] || r.recorded {
			continue
		}
		if _, err := s.Consent.RecordIn(ctx, tx, consent.Event{
			ContactID: contactID, Purpose: p.ID, State: consent.Requested, Method: consent.MethodWebForm,
			Evidence: consent.Evidence{IP: r.IP, UserAgent: r.UserAgent, FormID: r.FormID},
		}); err != nil {
			return OutcomeNone, err
		}
	}
	raw := make([]byte, token.SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return OutcomeNone, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	cur, err := s.currentPolicies(ctx, tx)
	if err != nil {
		return OutcomeNone, err
	}
	now := s.Now().UTC()
	t := Token{Hash: hashToken(secret), ContactID: contactID, Purposes: pending, PolicyVersions: cur, FormID: r.FormID, CreatedAt: now, ExpiresAt: now.Add(s.ttl())}
	if err := tx.InsertOptinToken(ctx, t); err != nil {
		return OutcomeNone, err
	}
	m, err := s.message(r, contactID, KindConfirm, now)
	if err != nil {
		return OutcomeNone, err
	}
	m.Subject, m.Text = s.confirmText(r, pl, strings.TrimSuffix(s.BaseURL, "/")+"/p/confirm/"+url.PathEscape(secret))
	if campaignID != "" {
		// A campaign's request is asked about at the gate again at hand-off (mail.Outbox): a
		// "no" or a block since the walk queued it stops it.
		m.CampaignID, m.Purpose = campaignID, pending[0]
	}
	if r.Refusal != nil {
		links, err := r.Refusal.MintRefusalIn(ctx, tx, contactID, pending[0], r.Mailto)
		if err != nil {
			return OutcomeNone, err
		}
		// A request for marketing consent is itself direct marketing (ePrivacy Directive Art.
		// 13): it carries a one-click way to say no (RFC 2369, RFC 8058), which is recorded.
		m.Headers = links.Headers
		m.Text += fmt.Sprintf("\nNot interested? Say so with one click and we will not ask you again: %s\n", links.URL)
	}
	if err := s.Outbox.EnqueueIn(ctx, tx, m); err != nil {
		return OutcomeNone, err
	}
	ev := audit.New(ctx, now, "optin.request", "contact", contactID, "optin_token")
	return OutcomeConfirm, tx.AppendAudit(ctx, &ev)
}

// confirmText is the subject and text of a confirmation mail with link for pl.confirm (r.Subject
// and r.Intro replace the standard wording), closing with why the other purposes of the
// sign-up need no confirmation.
func (s *Service) confirmText(r Request, pl signup, link string) (subject, text string) {
	names := quoted(pl.confirm)
	subject = "Please confirm your subscription"
	intro := fmt.Sprintf("Someone, hopefully you, asked to receive %s from us at this address.", names)
	if r.Subject != "" {
		subject = r.Subject
	}
	if r.Intro != "" {
		intro = strings.TrimRight(r.Intro, "\n") + fmt.Sprintf("\n\nThis asks for your consent to receive %s.", names)
	}
	text = fmt.Sprintf("%s\n\nTo confirm, open this link and press the button:\n\n%s\n\nThe link works once and expires in %d hours. If you do not want this, ignore this message: nothing will be sent.\n", intro, link, int(s.ttl().Hours()))
	if more := pl.lines(s.PrivacyURL()); len(more) > 0 {
		text += "\nAbout the rest of this sign-up:\n\n" + strings.Join(more, "\n\n") + "\n"
	}
	return subject, text
}

// noteIn queues a note for a sign-up with nothing to confirm (pl.outcome() is not
// OutcomeConfirm): the purposes received already, objected to, or a hold (consent.Facts.Hold).
// The public form sends it so that its one answer, that a message is on its way, is true whatever the
// address's state. Rate limited like a confirmation (OutcomeRateLimited).
func (s *Service) noteIn(ctx context.Context, tx Tx, contactID string, r Request, pl signup) (Outcome, error) {
	if limited, err := s.limited(ctx, tx, contactID); err != nil || limited {
		return OutcomeRateLimited, err
	}
	now := s.Now().UTC()
	m, err := s.message(r, contactID, KindNote, now)
	if err != nil {
		return OutcomeNone, err
	}
	m.Subject = "About your subscription"
	m.Text = "Someone, hopefully you, asked to receive mail from us at this address. There is nothing to confirm.\n\n" +
		strings.Join(pl.lines(s.PrivacyURL()), "\n\n") + "\n\nIf you did not ask for this, you can ignore this message: nothing changed.\n"
	if err := s.Outbox.EnqueueIn(ctx, tx, m); err != nil {
		return OutcomeNone, err
	}
	ev := audit.New(ctx, now, "optin.note", "contact", contactID)
	return OutcomeNote, tx.AppendAudit(ctx, &ev)
}

// message starts a transactional sign-up message of kind to r.Email.
func (s *Service) message(r Request, contactID, kind string, now time.Time) (mail.Message, error) {
	norm, err := normalize.Email(r.Email)
	if err != nil {
		return mail.Message{}, err
	}
	return mail.Message{ID: s.NewID(), ContactID: contactID, Stream: mail.Transactional, Kind: kind, To: norm, CreatedAt: now}, nil
}

// PrivacyURL is the privacy notice's address (BaseURL/p/privacy), which says how to reach the controller.
func (s *Service) PrivacyURL() string { return strings.TrimSuffix(s.BaseURL, "/") + "/p/privacy" }

// ReconfirmIn runs inside the transaction that changed a contact's e-mail address (the contact
// service's EmailChanged hook): consent given by double opt-in was confirmed at the old address,
// so for each double opt-in purpose it stands for, the consent ends (dpv:ConsentExpired, method
// staff, the note saying why) and the new address gets a confirmation link. Until that is used,
// nothing under those purposes is mailed or shared to the unconfirmed address.
func (s *Service) ReconfirmIn(ctx context.Context, ctTx contact.Tx, contactID, newEmail string) error {
	tx, ok := ctTx.(Tx)
	if !ok {
		return fmt.Errorf("optin: reconfirm %s: the store transaction does not hold opt-in links", contactID)
	}
	ps, err := tx.ListPurposes(ctx)
	if err != nil {
		return err
	}
	var again []string
	for _, p := range ps {
		if !p.Subscribable() || !p.DoubleOptIn {
			continue
		}
		f, err := tx.GateFacts(ctx, contactID, p.ID)
		if err != nil {
			return err
		}
		if c := f.Effective(p); c == nil || c.State != consent.Given || f.Restricted {
			continue
		}
		// dpv:ConsentExpired: the consent confirmed at the old address no longer stands for the
		// new one (a request would not supersede a given consent); the confirmation renews it.
		if _, err := s.Consent.RecordIn(ctx, tx, consent.Event{
			ContactID: contactID, Purpose: p.ID, State: consent.Expired, Method: consent.MethodStaff,
			Evidence: consent.Evidence{Note: "the e-mail address changed: consent confirmed at the old address ends; the new address confirms (double opt-in) before mail for this purpose goes to it"},
		}); err != nil {
			return err
		}
		again = append(again, p.ID)
	}
	if len(again) == 0 {
		return nil
	}
	out, err := s.RequestIn(ctx, tx, contactID, Request{Email: newEmail, Purposes: again, recorded: true,
		Intro: "The e-mail address of your subscription was changed to this one. Please confirm that it is yours and that you want to go on receiving our mail here."}, "")
	if out == OutcomeConfirm {
		s.wake() // the sender waits for this transaction's commit (one writer)
	}
	return err
}
