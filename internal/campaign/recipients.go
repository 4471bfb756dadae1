package campaign

import (
	"context"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/token"
)

// Recipient outcomes (Recipient.Outcome).
const (
	OutcomeQueued  = mail.StatusQueued  // in the outbox, waiting for the transport
	OutcomeSent    = mail.StatusSent    // handed to the transport
	OutcomeFailed  = mail.StatusFailed  // the transport gave up; the reason is the mail server's answer code, never an address
	OutcomeSkipped = mail.StatusSkipped // the consent gate refused the person, when the walk reached them or at hand-off
)

// Recipient is one audience member a campaign considered: one the walk queued a message for,
// with the message's outcome, or one the consent gate refused, with the gate's reason
// (withdrawn, suppressed, restricted, …, or rate_limited and consent_given for a consent
// request). It holds ids and codes, never a personal field.
type Recipient struct {
	ContactID string `json:"contact_id"`
	Outcome   string `json:"outcome"`
	// Reason says why a recipient was skipped or failed (and why a queued message waits for a
	// retry); "" otherwise, and for readers who may not read contacts (Recipients).
	Reason string `json:"reason,omitempty"`
}

// Skip is one audience member the walk did not queue, with the gate's reason.
type Skip struct {
	ContactID string
	Reason    string
}

// recipientsTx is what the recipients list needs from a store transaction (part of Tx).
type recipientsTx interface {
	// AddCampaignSkips records audience members the walk did not queue; one recorded already
	// for the campaign keeps its reason.
	AddCampaignSkips(ctx context.Context, campaignID string, skips []Skip) error
	// CampaignRecipients returns up to limit of the campaign's recipients whose contact id sorts
	// after after, in contact id order: its outbox messages with their status and last error,
	// and its skips.
	CampaignRecipients(ctx context.Context, campaignID, after string, limit int) ([]Recipient, error)
}

// MaxRecipientsPage is the most recipients one page of Recipients holds.
const MaxRecipientsPage = 1000

// Recipients lists who campaign id considered, a page of up to limit (1 to MaxRecipientsPage)
// in contact id order after the cursor after (a contact id; "" for the first page), with the
// cursor of the next page ("" at the end). The reason is the person's consent state (withdrawn,
// objected, restricted): it is left out for an actor that may not read contacts
// (token.ContactsRead, through token.Permits: the auditor sees ids and outcomes only). The list is read from the outbox and the walk's skips, so it grows
// while the campaign is sending; people the walk left out uncounted (no address, not carrying
// the audience's tag) are not in it. NotFound when the campaign is absent; Invalid (field
// limit) for a limit out of range.
func (s *Service) Recipients(ctx context.Context, id, after string, limit int) ([]Recipient, string, error) {
	if limit < 1 || limit > MaxRecipientsPage {
		return nil, "", apperr.Invalidf("limit", "invalid_limit", "limit: must be a whole number between 1 and %d", MaxRecipientsPage)
	}
	var out []Recipient
	withReasons := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		_, withReasons = token.Permits(ctx, token.ContactsRead)
		if _, err := tx.CampaignByID(ctx, id); err != nil {
			return err
		}
		var err error
		out, err = tx.CampaignRecipients(ctx, id, after, limit+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ContactID
	}
	if !withReasons {
		for i := range out {
			out[i].Reason = ""
		}
	}
	if out == nil {
		out = []Recipient{}
	}
	return out, next, nil
}
