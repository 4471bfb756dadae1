// Package campaign sends marketing mail to an audience (issue 4). Every recipient is checked
// through the consent gate when the campaign is queued and again, by the outbox, at the moment
// each message is handed to the transport, so a withdrawal, suppression, restriction or
// objection made while a campaign is sending stops the next message.
//
// Invariants:
//   - Every marketing message carries List-Unsubscribe and List-Unsubscribe-Post (RFC 2369,
//     RFC 8058) and a visible unsubscribe link and postal address in its body.
//   - A campaign's counts are derived from its outbox entries, never kept twice.
package campaign

import (
	"context"
	"fmt"
	"html"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
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

// Campaign is one mailing.
type Campaign struct {
	ID string `json:"id"`
	// Kind is "marketing" (default) or "consent_request": a double opt-in request to every
	// audience member whose consent for the purpose is absent, expired or needs renewing; those
	// who withdrew, refused, objected, are suppressed or restricted are left alone.
	Kind      string     `json:"kind"`
	Purpose   string     `json:"purpose"`
	Subject   string     `json:"subject"`
	Text      string     `json:"text"`
	HTML      string     `json:"html,omitempty"`
	Audience  Audience   `json:"audience"`
	CreatedAt time.Time  `json:"created_at"`
	QueuedAt  *time.Time `json:"queued_at,omitempty"`
	Counts    *Counts    `json:"counts,omitempty"`
}

// Counts are a campaign's outcomes so far.
type Counts struct {
	Queued    int            `json:"queued"`     // waiting for the transport
	Sent      int            `json:"sent"`       // handed to the transport
	Failed    int            `json:"failed"`     // given up
	Skipped   int            `json:"skipped"`    // refused by the consent gate
	SkippedBy map[string]int `json:"skipped_by"` // gate reason → count
}

// Tx is what campaigns need from one store transaction.
type Tx interface {
	optin.UnsubscribeTx
	optin.Tx
	InsertCampaign(ctx context.Context, c Campaign) error
	CampaignByID(ctx context.Context, id string) (Campaign, error) // NotFound when absent
	ListCampaigns(ctx context.Context) ([]Campaign, error)
	SetCampaignQueued(ctx context.Context, id string, at time.Time) error
	CampaignOutcomes(ctx context.Context, campaignID string) (byStatus, skippedBy map[string]int, err error)
}

// Store runs serialized transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Service creates and sends campaigns. Fields are set once by internal/cli.
type Service struct {
	Store    Store
	Contacts *contact.Service
	Consent  *consent.Service
	Outbox   *mail.Outbox
	Unsub    *optin.Unsubscribe
	Now      func() time.Time
	NewID    func() string
	Postal   string // the sender's postal address, shown in every message
	Mailto   string // the mailto: unsubscribe address ("" for none)
	Wake     chan<- struct{}
	// Optin sends the double opt-in requests of consent-request campaigns.
	Optin *optin.Service
}

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
	c.ID, c.CreatedAt, c.QueuedAt, c.Counts = s.NewID(), s.Now().UTC(), nil, nil
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

// Get returns a campaign with its counts; NotFound when absent.
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
		c.Counts = &Counts{Queued: byStatus[mail.StatusQueued], Sent: byStatus[mail.StatusSent], Failed: byStatus[mail.StatusFailed], Skipped: byStatus[mail.StatusSkipped], SkippedBy: skipped}
		return nil
	})
	return c, err
}

// List returns every campaign, newest first, without counts.
func (s *Service) List(ctx context.Context) ([]Campaign, error) {
	var out []Campaign
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListCampaigns(ctx)
		return err
	})
	return out, err
}

// Send queues the campaign for its audience ("campaign.send"): each recipient the gate allows now
// gets a rendered message (an audited read of the contact) with its own unsubscribe link; each
// one it refuses is counted skipped with the reason. The outbox asks the gate again at hand-off.
// Conflict when the campaign was queued already.
func (s *Service) Send(ctx context.Context, id string) (Campaign, error) {
	now := s.Now().UTC()
	var c Campaign
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		if c, err = tx.CampaignByID(ctx, id); err != nil {
			return err
		}
		if c.QueuedAt != nil {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "already_sent", Message: "this campaign was sent already", ID: id}
		}
		if err := tx.SetCampaignQueued(ctx, id, now); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "campaign.send", "campaign", id)
		ev.Purpose = c.Purpose
		return tx.AppendAudit(ctx, &ev)
	})
	if err != nil {
		return Campaign{}, err
	}
	cut := footerAt(c.HTML) // once per campaign: the body may be 400 KiB
	// The audience is walked in pages, one transaction each, so a large audience never holds the
	// writer for long.
	for after := ""; ; {
		var page []*contact.Record
		err := s.Store.Update(ctx, func(tx Tx) error {
			var err error
			if page, err = tx.ListContacts(ctx, c.Audience.Kind, after, 200); err != nil {
				return err
			}
			for _, rec := range page {
				if err := s.queue(ctx, tx, c, rec, cut); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return Campaign{}, err
		}
		if len(page) < 200 {
			break
		}
		after = page[len(page)-1].ID
	}
	if s.Wake != nil {
		select {
		case s.Wake <- struct{}{}:
		default:
		}
	}
	return s.Get(ctx, id)
}

// queue checks one recipient through the gate and queues their message or a skipped entry; cut is
// footerAt(c.HTML).
func (s *Service) queue(ctx context.Context, tx Tx, c Campaign, rec *contact.Record, cut int) error {
	if rec.EmailIndex == nil {
		return nil // no address to write to
	}
	now := s.Now().UTC()
	f, err := tx.GateFacts(ctx, rec.ID, c.Purpose)
	if err != nil {
		return err
	}
	p, err := tx.PurposeByID(ctx, c.Purpose)
	if err != nil {
		return err
	}
	d := consent.Decide(p, f, now)
	if c.Kind == KindConsentRequest {
		return s.request(ctx, tx, c, rec, d)
	}
	if !d.Allowed {
		if c.Audience.Tag != "" {
			return nil // the tag is unknown without reading the contact; refused anyway
		}
		return tx.InsertOutbox(ctx, mail.Entry{ID: s.NewID(), ContactID: rec.ID, Stream: mail.Marketing, Kind: "campaign",
			Status: mail.StatusSkipped, LastError: string(d.Reason), NextAttemptAt: now, CreatedAt: now, Sealed: []byte{}, Purpose: c.Purpose, CampaignID: c.ID})
	}
	person, err := s.Contacts.OpenIn(ctx, tx, rec)
	if err != nil {
		return err
	}
	if c.Audience.Tag != "" && !hasTag(person.Tags, c.Audience.Tag) {
		return nil
	}
	links, err := s.Unsub.MintIn(ctx, tx, rec.ID, c.Purpose, s.Mailto)
	if err != nil {
		return err
	}
	text := c.Text + fmt.Sprintf("\n\n--\nUnsubscribe with one click: %s\nChoose which mail you receive: %s\n%s\n", links.URL, links.Preferences, s.Postal)
	var htmlBody string
	if c.HTML != "" {
		htmlBody = withFooter(c.HTML, cut, fmt.Sprintf(`<hr><p style="font-size:12px;color:#555">You receive this because you agreed to it. <a href="%s">Unsubscribe with one click</a> or <a href="%s">choose which mail you receive</a>.<br>%s</p>`,
			html.EscapeString(links.URL), html.EscapeString(links.Preferences), html.EscapeString(s.Postal)))
	}
	return s.Outbox.EnqueueIn(ctx, tx, mail.Message{
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

// requestable are the gate's reasons for which a consent-request campaign asks again: nothing on
// record, or a consent that lapsed. A person who said no (withdrew, refused, objected,
// unsubscribed) is not asked again.
var requestable = map[consent.Reason]bool{consent.ReasonNoConsent: true, consent.ReasonExpired: true, consent.ReasonNeedsReconsent: true}

func (s *Service) request(ctx context.Context, tx Tx, c Campaign, rec *contact.Record, d consent.Decision) error {
	now := s.Now().UTC()
	if !requestable[d.Reason] {
		if c.Audience.Tag != "" {
			return nil
		}
		reason := string(d.Reason)
		if d.Allowed {
			reason = "consent_given" // nothing to ask
		}
		return tx.InsertOutbox(ctx, mail.Entry{ID: s.NewID(), ContactID: rec.ID, Stream: mail.Transactional, Kind: "optin.confirm",
			Status: mail.StatusSkipped, LastError: reason, NextAttemptAt: now, CreatedAt: now, Sealed: []byte{}, Purpose: c.Purpose, CampaignID: c.ID})
	}
	person, err := s.Contacts.OpenIn(ctx, tx, rec)
	if err != nil {
		return err
	}
	if c.Audience.Tag != "" && !hasTag(person.Tags, c.Audience.Tag) {
		return nil
	}
	queued, err := s.Optin.RequestIn(ctx, tx, rec.ID, optin.Request{Email: person.Email, Purposes: []string{c.Purpose}, FormID: "campaign:" + c.ID,
		Subject: c.Subject, Intro: c.Text}, c.ID)
	if err != nil || queued {
		return err
	}
	// A confirmation link went out to this person minutes ago: counted, not lost.
	return tx.InsertOutbox(ctx, mail.Entry{ID: s.NewID(), ContactID: rec.ID, Stream: mail.Transactional, Kind: "optin.confirm",
		Status: mail.StatusSkipped, LastError: "rate_limited", NextAttemptAt: now, CreatedAt: now, Sealed: []byte{}, Purpose: c.Purpose, CampaignID: c.ID})
}
