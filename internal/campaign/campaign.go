// Package campaign sends marketing mail to an audience (issue 4). Sending is a job, not a
// request (issue 10): Send records the send and returns; Run, owned by tillit serve, walks the
// audience in the background, in batches in contact id order, and goes on after the client hangs
// up or the server restarts. Every recipient is checked through the consent gate when the walk
// queues their message and again, by the outbox, at the moment each message is handed to the
// transport, so a withdrawal, suppression, restriction or objection made while a campaign is
// sending stops every message not yet handed over.
//
// Invariants:
//   - Every marketing message carries List-Unsubscribe and List-Unsubscribe-Post (RFC 2369,
//     RFC 8058) and a visible unsubscribe link and postal address in its body; every consent
//     request carries both headers and a visible link too, whose use records a refusal.
//   - A consent request goes only to those who may be asked (mayAsk): lapsed or unanswered
//     consent; people with no consent history only with IncludeNoHistory (admin or DPO).
//   - The audience is the contacts (of the audience's kind) whose id is at most the greatest id
//     when the send was recorded (Walk.End): people added later are not mailed.
//   - One batch is one transaction: its outbox rows and the advanced cursor commit together, so a
//     crash or restart never queues a person twice nor skips one.
//   - Nobody the gate refuses at queue time gets an outbox row: the walk counts them by reason on
//     the campaign (Walk.SkippedBy) and keeps who and why in a light row (Skip) for the
//     recipients list. Outcomes after queueing (queued, sent, failed, skipped at hand-off) are
//     derived from the outbox entries, never kept twice.
package campaign

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/token"
)

// Audience selects recipients: every contact, or those of one kind and/or with one tag.
type Audience struct {
	Kind contact.Kind `json:"kind,omitempty"`
	Tag  string       `json:"tag,omitempty"`
}

// Kinds of campaign.
const (
	KindMarketing      = "marketing"       // mail for a purpose to those who agreed to it
	KindConsentRequest = "consent_request" // a double opt-in request to those without (valid) consent
)

// Campaign statuses (Campaign.Status).
const (
	StatusDraft   = "draft"   // created, not sent
	StatusSending = "sending" // the send is recorded; the server is walking the audience
	StatusSent    = "sent"    // every audience member was walked; counts.queued messages still wait for the transport
)

// Campaign is one mailing.
type Campaign struct {
	ID string `json:"id"`
	// Kind is "marketing" (default) or "consent_request": a double opt-in request to every
	// audience member whose consent for the purpose expired, needs renewing or was requested and
	// not answered (see mayAsk); those who withdrew, refused, objected, are suppressed or
	// restricted, and those never asked, are left alone.
	Kind string `json:"kind"`
	// IncludeNoHistory makes a consent_request campaign ask people with no consent history for
	// its purpose too (existing customers under the soft opt-in, ePrivacy Directive Art. 13(2)).
	// Only an admin or the DPO may set it; the campaign then carries a warning.
	IncludeNoHistory bool `json:"include_no_history"`
	// Warnings say what the campaign's settings risk (not stored; derived).
	Warnings  []string   `json:"warnings,omitempty"`
	Purpose   string     `json:"purpose"`
	Subject   string     `json:"subject"`
	Text      string     `json:"text"`
	HTML      string     `json:"html,omitempty"`
	Audience  Audience   `json:"audience"`
	CreatedAt time.Time  `json:"created_at"`
	QueuedAt  *time.Time `json:"queued_at,omitempty"` // when the send was recorded
	// Status is draft, sending or sent (StatusDraft, …), derived from QueuedAt and FinishedAt.
	Status     string     `json:"status"`
	FinishedAt *time.Time `json:"finished_at,omitempty"` // when the audience walk ended
	Counts     *Counts    `json:"counts,omitempty"`
	Walk       Walk       `json:"-"`
}

// Walk is the stored progress of a campaign's audience walk.
type Walk struct {
	End       string         // the greatest contact id of the audience when the send was recorded; "" for an empty audience
	Cursor    string         // the last contact id walked; "" before the first batch
	Walked    int            // audience members walked
	Messages  int            // messages put in the outbox
	SkippedBy map[string]int // refused when queued: reason → count (no outbox row)
}

// Counts are a campaign's outcomes so far.
type Counts struct {
	Walked    int            `json:"walked"`     // audience members walked (those without an address, or without the tag, included)
	Messages  int            `json:"messages"`   // messages the walk put in the outbox: queued + sent + failed + skipped at hand-off
	Queued    int            `json:"queued"`     // waiting for the transport
	Sent      int            `json:"sent"`       // handed to the transport
	Failed    int            `json:"failed"`     // given up
	Skipped   int            `json:"skipped"`    // refused by the consent gate when queued or at hand-off
	SkippedBy map[string]int `json:"skipped_by"` // gate reason (no_consent, withdrawn, suppressed, restricted, rate_limited, …) → count
}

// Tx is what campaigns need from one store transaction.
type Tx interface {
	optin.UnsubscribeTx
	optin.Tx
	recipientsTx
	InsertCampaign(ctx context.Context, c Campaign) error
	CampaignByID(ctx context.Context, id string) (Campaign, error) // NotFound when absent; with Walk
	ListCampaigns(ctx context.Context) ([]Campaign, error)
	// SetCampaignQueued records the send at at with the audience's last contact id end;
	// Conflict when recorded already.
	SetCampaignQueued(ctx context.Context, id string, at time.Time, end string) error
	// AdvanceCampaign stores w (cursor, counts, every reason's count) and, when finishedAt is
	// not nil, the end of the walk.
	AdvanceCampaign(ctx context.Context, id string, w Walk, finishedAt *time.Time) error
	SendingCampaigns(ctx context.Context) ([]string, error)               // sent, walk not ended; oldest first
	LastContactID(ctx context.Context, kind contact.Kind) (string, error) // "" when none
	CampaignOutcomes(ctx context.Context, campaignID string) (byStatus, skippedBy map[string]int, err error)
}

// Store runs serialized transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Service creates and sends campaigns. Fields are set once by internal/app.
type Service struct {
	Store    Store
	Contacts *contact.Service
	Consent  *consent.Service
	Outbox   *mail.Outbox
	Unsub    *optin.Unsubscribe
	Now      func() time.Time
	NewID    func() string
	Postal   string          // the sender's postal address, shown in every message
	Mailto   string          // the mailto: unsubscribe address ("" for none)
	Wake     chan<- struct{} // wakes the outbox when a batch queued messages
	// Walks wakes Run when a send is recorded (nil: Run finds it at its next poll).
	Walks chan struct{}
	// Batch is how many audience members one transaction walks (default DefaultBatch).
	Batch  int
	Logger *slog.Logger
	// Optin sends the double opt-in requests of consent-request campaigns.
	Optin *optin.Service
}

// DefaultBatch is how many audience members one walk transaction takes: large enough that the
// commit is a small share, small enough that the writer is free again within tens of
// milliseconds (each queued message is an audited read, an unsubscribe token and a sealed row).
const DefaultBatch = 250

// Create validates and stores a campaign ("campaign.create"). Invalid names the field.
func (s *Service) Create(ctx context.Context, c Campaign) (Campaign, error) {
	if c.Kind == "" {
		c.Kind = KindMarketing
	}
	switch {
	case c.Kind != KindMarketing && c.Kind != KindConsentRequest:
		return Campaign{}, apperr.Invalidf("kind", "invalid_kind", "kind: marketing or consent_request")
	case c.Purpose == "":
		return Campaign{}, apperr.Invalidf("purpose", "required", "purpose: required")
	case strings.TrimSpace(c.Subject) == "" || utf8.RuneCountInString(c.Subject) > 200 || strings.ContainsAny(c.Subject, "\r\n"):
		return Campaign{}, apperr.Invalidf("subject", "invalid_subject", "subject: 1 to 200 characters on one line")
	case strings.TrimSpace(c.Text) == "" || len(c.Text) > 200<<10:
		return Campaign{}, apperr.Invalidf("text", "invalid_text", "text: the plain-text body, 1 byte to 200 KiB")
	case len(c.HTML) > 400<<10:
		return Campaign{}, apperr.Invalidf("html", "too_long", "html: at most 400 KiB")
	case c.Audience.Kind != "" && c.Audience.Kind != contact.KindLead && c.Audience.Kind != contact.KindContact:
		return Campaign{}, apperr.Invalidf("audience.kind", "invalid_kind", "audience.kind: lead, contact or empty")
	}
	if err := checkNoHistory(ctx, c); err != nil {
		return Campaign{}, err
	}
	c.ID, c.CreatedAt, c.QueuedAt, c.FinishedAt, c.Counts, c.Walk = s.NewID(), s.Now().UTC(), nil, nil, nil, Walk{}
	c.Warnings = warnings(c)
	c.Status = StatusDraft
	err := s.Store.Update(ctx, func(tx Tx) error {
		p, err := tx.PurposeByID(ctx, c.Purpose)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
		}
		if err != nil {
			return err
		}
		if p.Acceptance || !(p.Subscribable() || p.DirectMarketing) {
			return apperr.Invalidf("purpose", "not_marketing", "purpose: campaigns serve consent-based or direct-marketing purposes (not a contract or the acceptance of terms)")
		}
		if c.Kind == KindConsentRequest && p.LawfulBasis != consent.BasisConsent {
			return apperr.Invalidf("purpose", "not_consent_based", "purpose: a consent-request campaign asks for consent to a consent-based purpose")
		}
		if err := tx.InsertCampaign(ctx, c); err != nil {
			return err
		}
		ev := audit.New(ctx, c.CreatedAt, "campaign.create", "campaign", c.ID)
		ev.Purpose = c.Purpose
		return tx.AppendAudit(ctx, &ev)
	})
	return c, err
}

// NoHistoryWarning is the warning a consent-request campaign with IncludeNoHistory carries.
const NoHistoryWarning = "include_no_history: this campaign also asks people with no consent history for its purpose. " +
	"An e-mail asking for marketing consent is itself direct marketing (ePrivacy Directive Art. 13): send it only to people " +
	"you may mail without consent, such as existing customers about similar products (soft opt-in, Art. 13(2)). " +
	"Every request can be refused with one click, and a refusal is recorded."

// checkNoHistory allows IncludeNoHistory only on a consent_request campaign (Invalid) created by
// an admin or DPO, taken from the actor in ctx (Forbidden, reason role_forbidden).
func checkNoHistory(ctx context.Context, c Campaign) error {
	if !c.IncludeNoHistory {
		return nil
	}
	if c.Kind != KindConsentRequest {
		return apperr.Invalidf("include_no_history", "not_consent_request", "include_no_history: only for a consent_request campaign")
	}
	a := audit.ActorFrom(ctx)
	if a.Kind != audit.ActorToken || a.Role != string(token.RoleAdmin) && a.Role != string(token.RoleDPO) {
		return &apperr.Error{Kind: apperr.Forbidden, Field: "include_no_history", Reason: "role_forbidden",
			Message: "include_no_history: only an admin or the DPO may ask people with no consent history (a request for marketing consent is direct marketing, ePrivacy Directive Art. 13)"}
	}
	return nil
}

// warnings returns what c's settings risk.
func warnings(c Campaign) []string {
	if c.IncludeNoHistory {
		return []string{NoHistoryWarning}
	}
	return nil
}

// Get returns a campaign with its status and counts; NotFound when absent.
func (s *Service) Get(ctx context.Context, id string) (Campaign, error) {
	var c Campaign
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		if c, err = tx.CampaignByID(ctx, id); err != nil {
			return err
		}
		byStatus, skipped, err := tx.CampaignOutcomes(ctx, id)
		if err != nil {
			return err
		}
		c.Status, c.Warnings = status(c), warnings(c)
		n := &Counts{Walked: c.Walk.Walked, Messages: c.Walk.Messages, Queued: byStatus[mail.StatusQueued], Sent: byStatus[mail.StatusSent],
			Failed: byStatus[mail.StatusFailed], Skipped: byStatus[mail.StatusSkipped], SkippedBy: skipped}
		for reason, k := range c.Walk.SkippedBy {
			n.SkippedBy[reason] += k
			n.Skipped += k
		}
		c.Counts = n
		return nil
	})
	return c, err
}

func status(c Campaign) string {
	switch {
	case c.QueuedAt == nil:
		return StatusDraft
	case c.FinishedAt == nil:
		return StatusSending
	}
	return StatusSent
}

// List returns every campaign, newest first, with its status and without counts.
func (s *Service) List(ctx context.Context) ([]Campaign, error) {
	var out []Campaign
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListCampaigns(ctx)
		return err
	})
	for i := range out {
		out[i].Status, out[i].Warnings = status(out[i]), warnings(out[i])
	}
	return out, err
}

// Send records the send of the campaign ("campaign.send") and returns it with status sending:
// the audience is every contact of its kind up to the greatest id now. Run then walks it in the
// background: each recipient the gate allows then gets a rendered message (an audited read of the
// contact) with its own unsubscribe link; each one it refuses is counted with the reason. The
// outbox asks the gate again at hand-off. Conflict (reason already_sent) when the send was
// recorded already; NotFound when the campaign is absent.
func (s *Service) Send(ctx context.Context, id string) (Campaign, error) {
	// A client that hangs up mid-call must not interrupt the short recording of the send: it
	// was answered 500 or 503 for sends that were recorded all the same (a retry then got 409).
	ctx = context.WithoutCancel(ctx)
	now := s.Now().UTC()
	err := s.Store.Update(ctx, func(tx Tx) error {
		c, err := tx.CampaignByID(ctx, id)
		if err != nil {
			return err
		}
		if c.QueuedAt != nil {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "already_sent", Message: "this campaign was sent already", ID: id}
		}
		end, err := tx.LastContactID(ctx, c.Audience.Kind)
		if err != nil {
			return err
		}
		if err := tx.SetCampaignQueued(ctx, id, now, end); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "campaign.send", "campaign", id)
		ev.Purpose = c.Purpose
		return tx.AppendAudit(ctx, &ev)
	})
	if err != nil {
		return Campaign{}, err
	}
	poke(s.Walks)
	return s.Get(ctx, id)
}

func poke[C chan struct{} | chan<- struct{}](c C) {
	if c == nil {
		return
	}
	select {
	case c <- struct{}{}:
	default:
	}
}

// Step walks the next batch of a sent campaign's audience in one transaction: up to Batch
// contacts after the stored cursor, in id order and not past Walk.End; it queues a message for
// each one the gate allows now, counts each one it refuses by reason, and stores the advanced
// cursor and counts, and the end of the walk when no one is left, in the same transaction.
// done reports that the walk has ended (also when it had before). NotFound when the campaign is
// absent; Conflict (reason not_sent) when its send was never recorded.
func (s *Service) Step(ctx context.Context, id string) (done bool, err error) {
	batch := s.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	queued := 0
	err = s.Store.Update(ctx, func(tx Tx) error {
		queued, done = 0, false
		c, err := tx.CampaignByID(ctx, id)
		if err != nil {
			return err
		}
		if c.QueuedAt == nil {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "not_sent", Message: "this campaign was not sent", ID: id}
		}
		if c.FinishedAt != nil {
			done = true
			return nil
		}
		w := c.Walk
		if w.SkippedBy == nil {
			w.SkippedBy = map[string]int{}
		}
		var page []*contact.Record
		if w.End != "" && w.Cursor < w.End {
			if page, err = tx.ListContacts(ctx, c.Audience.Kind, w.Cursor, batch); err != nil {
				return err
			}
		}
		p, err := tx.PurposeByID(ctx, c.Purpose)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(page))
		for _, rec := range page {
			ids = append(ids, rec.ID)
		}
		facts, err := tx.GateFactsFor(ctx, ids, c.Purpose) // the page's gate facts in one query
		if err != nil {
			return err
		}
		cut := footerAt(c.HTML) // once per batch: the body may be 400 KiB
		ended := len(page) < batch
		var skips []Skip // kept per person for the recipients list
		for _, rec := range page {
			if rec.ID > w.End { // added after the send
				ended = true
				break
			}
			f, ok := facts[rec.ID]
			if !ok {
				return fmt.Errorf("campaign: no gate facts for contact %s", rec.ID)
			}
			reason, err := s.queue(ctx, tx, c, p, f, rec, cut)
			if err != nil {
				return err
			}
			w.Cursor = rec.ID
			w.Walked++
			switch reason {
			case "":
			case queuedOne:
				w.Messages++
				queued++
			default:
				w.SkippedBy[reason]++
				skips = append(skips, Skip{ContactID: rec.ID, Reason: reason})
			}
		}
		var fin *time.Time
		if ended || w.Cursor == w.End {
			t := s.Now().UTC()
			fin, done = &t, true
		}
		if err := tx.AddCampaignSkips(ctx, id, skips); err != nil {
			return err
		}
		return tx.AdvanceCampaign(ctx, id, w, fin)
	})
	if err == nil && queued > 0 {
		poke(s.Wake)
	}
	return done, err
}

// Run walks the audiences of every campaign being sent until ctx ends: one batch (Step) of each
// in turn, so a small campaign is not held up behind a large one, until none is left; then it
// waits for Walks or the next interval. After a restart it resumes each walk from its stored
// cursor. A campaign whose step fails is logged and left until the next interval; the others
// go on.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.walkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.Walks:
		}
	}
}

func (s *Service) walkAll(ctx context.Context) {
	failed := map[string]bool{} // campaigns whose step failed: tried again at the next interval
	for ctx.Err() == nil {
		var ids []string
		err := s.Store.Update(ctx, func(tx Tx) error {
			var err error
			ids, err = tx.SendingCampaigns(ctx)
			return err
		})
		if err != nil {
			s.logError(ctx, "campaign walk", err)
			return
		}
		stepped := false
		for _, id := range ids {
			if failed[id] || ctx.Err() != nil {
				continue
			}
			if _, err := s.Step(ctx, id); err != nil {
				failed[id] = true
				s.logError(ctx, "campaign walk", fmt.Errorf("campaign %s: %w", id, err))
				continue
			}
			stepped = true
		}
		if !stepped {
			return
		}
	}
}

func (s *Service) logError(ctx context.Context, msg string, err error) {
	if ctx.Err() == nil && s.Logger != nil {
		s.Logger.ErrorContext(ctx, msg, slog.Any("error", err))
	}
}

// queuedOne is what queue returns for a queued message.
const queuedOne = "queued"

// queue checks one recipient through the gate (purpose p, facts f read in this transaction) and
// queues their message. It returns
// queuedOne for a queued message, the gate's reason for a refusal, and "" for someone left out
// uncounted (no e-mail address; not carrying the audience's tag; refused in a tagged audience).
// cut is footerAt(c.HTML).
func (s *Service) queue(ctx context.Context, tx Tx, c Campaign, p consent.Purpose, f consent.Facts, rec *contact.Record, cut int) (string, error) {
	if rec.EmailIndex == nil {
		return "", nil // no address to write to
	}
	now := s.Now().UTC()
	d := consent.Decide(p, f, now)
	if c.Kind == KindConsentRequest {
		return s.request(ctx, tx, c, rec, d, f)
	}
	if !d.Allowed {
		if c.Audience.Tag != "" {
			return "", nil // the tag is unknown without reading the contact; refused anyway
		}
		return string(d.Reason), nil
	}
	person, err := s.Contacts.OpenIn(ctx, tx, rec)
	if err != nil {
		return "", err
	}
	if c.Audience.Tag != "" && !hasTag(person.Tags, c.Audience.Tag) {
		return "", nil
	}
	links, err := s.Unsub.MintIn(ctx, tx, rec.ID, c.Purpose, s.Mailto)
	if err != nil {
		return "", err
	}
	text := c.Text + fmt.Sprintf("\n\n--\nUnsubscribe with one click: %s\nChoose which mail you receive: %s\n%s\n", links.URL, links.Preferences, s.Postal)
	var htmlBody string
	if c.HTML != "" {
		htmlBody = withFooter(c.HTML, cut, fmt.Sprintf(`<hr><p style="font-size:12px;color:#555">You receive this because you agreed to it. <a href="%s">Unsubscribe with one click</a> or <a href="%s">choose which mail you receive</a>.<br>%s</p>`,
			html.EscapeString(links.URL), html.EscapeString(links.Preferences), html.EscapeString(s.Postal)))
	}
	return queuedOne, s.Outbox.EnqueueIn(ctx, tx, mail.Message{
		ID: s.NewID(), ContactID: rec.ID, Stream: mail.Marketing, Kind: "campaign", To: person.Email,
		Subject: c.Subject, Text: text, HTML: htmlBody, Headers: links.Headers, CreatedAt: now,
		Purpose: c.Purpose, CampaignID: c.ID,
	})
}

// footerAt is where the footer goes in an HTML body: before its last </body> (case-insensitive)
// when it has one, so a full document stays well-formed; otherwise at the end.
func footerAt(body string) int {
	if i := strings.LastIndex(strings.ToLower(body), "</body>"); i >= 0 {
		return i
	}
	return len(body)
}

// withFooter inserts footer into body at cut (footerAt(body)).
func withFooter(body string, cut int, footer string) string { return body[:cut] + footer + body[cut:] }

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

// Reasons a consent-request campaign gives for leaving someone out (Counts.SkippedBy), beside
// the gate's own: withdrawn, refused, objected, restricted, suppressed, pending_approval, … (a
// person who said no, or may not be processed, is never asked).
const (
	SkipConsentGiven = "consent_given"      // consent given and valid: nothing to ask
	SkipNoHistory    = "no_consent_history" // never asked for this purpose: asked only with IncludeNoHistory
	SkipRateLimited  = "rate_limited"       // a sign-up message went to the person minutes ago
)

// mayAsk is the rule of who a consent-request campaign asks, from the gate's decision d and
// facts f for its purpose: those whose consent expired (by event or by consent_valid_days),
// needs renewal after a material policy change (needs_reconsent), or was requested and not yet
// answered; people with no consent history for the purpose only when includeNoHistory (an
// e-mail asking for marketing consent is itself direct marketing, ePrivacy Directive Art. 13).
// Anyone else is left out with a reason: the gate's (withdrawn, refused, objected, restricted,
// suppressed, …), SkipConsentGiven or SkipNoHistory.
//
// The rule is consent.AskOf, which the re-permission list applies too.
func mayAsk(d consent.Decision, f consent.Facts, includeNoHistory bool) (ask bool, reason string) {
	switch consent.AskOf(d, f) {
	case consent.AskYes:
		return true, ""
	case consent.AskNoHistory:
		if includeNoHistory {
			return true, ""
		}
		return false, SkipNoHistory
	}
	if d.Allowed {
		return false, SkipConsentGiven
	}
	return false, string(d.Reason)
}

// request is queue for a consent-request campaign: it queues a double opt-in request (queuedOne)
// that can be refused with one click, or names why not (see mayAsk; SkipRateLimited).
func (s *Service) request(ctx context.Context, tx Tx, c Campaign, rec *contact.Record, d consent.Decision, f consent.Facts) (string, error) {
	if ask, reason := mayAsk(d, f, c.IncludeNoHistory); !ask {
		if c.Audience.Tag != "" {
			return "", nil
		}
		return reason, nil
	}
	person, err := s.Contacts.OpenIn(ctx, tx, rec)
	if err != nil {
		return "", err
	}
	if c.Audience.Tag != "" && !hasTag(person.Tags, c.Audience.Tag) {
		return "", nil
	}
	out, err := s.Optin.RequestIn(ctx, tx, rec.ID, optin.Request{Email: person.Email, Purposes: []string{c.Purpose}, FormID: "campaign:" + c.ID,
		Subject: c.Subject, Intro: c.Text, Refusal: s.Unsub, Mailto: s.Mailto}, c.ID)
	switch {
	case err != nil:
		return "", err
	case out == optin.OutcomeConfirm:
		return queuedOne, nil
	case out == optin.OutcomeRateLimited:
		return SkipRateLimited, nil // a confirmation link went out to this person minutes ago: counted, not lost
	}
	return string(out), nil
}
