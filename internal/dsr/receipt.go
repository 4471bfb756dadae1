package dsr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/personal"
	"github.com/tillit/tillit/internal/share"
)

// Receipt is the erasure receipt (GDPR Art. 17, 19): what was erased, what was kept under which
// exemption, and how each recipient of the person's data learns of the erasure. It names holdings
// of the personal-data register (package personal), row counts and plain words for them
// (Holding.What), never a value.
type Receipt struct {
	RequestID string    `json:"request_id"`
	ContactID string    `json:"contact_id"`
	ErasedAt  time.Time `json:"erased_at"`
	Erased    []Holding `json:"erased"`
	Kept      []Holding `json:"kept"`
	// Recipients are the companies the person's data was disclosed to, each with how far telling
	// it of the erasure has come (Art. 19). Read live: statuses move as webhooks are acknowledged
	// and staff mark their to-dos done.
	Recipients []Recipient `json:"recipients"`
	// Processors names the recipients told of the erasure (status told); Manual those staff
	// must still tell by hand (status to_tell). Read live, like Recipients; receipts made before
	// Recipients existed keep the names they were stored with.
	Processors []string `json:"processors_notified"`
	Manual     []string `json:"processors_to_notify_manually"`
	// Notifications is how the erasure reached each recipient with a webhook: delivered when,
	// acknowledged (the recipient confirmed it erased the person) when. Read live.
	Notifications []Notification `json:"notifications"`
	// ClosedRequests are the person's other open requests, closed with the erasure (there is no
	// data left to act on); the receipt mail names them, so none ends unanswered.
	ClosedRequests []ClosedRequest `json:"closed_requests,omitempty"`
	// Text is the receipt as the person reads it, with the recipients' statuses as they are now
	// (the mail carried them as they were at erasure).
	Text string `json:"text,omitempty"`
}

// ClosedRequest is an open request an erasure closed: its id, right and receipt date.
type ClosedRequest struct {
	ID         string    `json:"id"`
	Type       Type      `json:"type"`
	ReceivedAt time.Time `json:"received_at"`
}

// Notification is one recipient's erasure event.
type Notification struct {
	ProcessorID    string     `json:"processor_id"`
	Status         string     `json:"status"` // queued, delivered, failed
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
}

// Recipient statuses: a recipient counts as told only once it acknowledged the erasure event or
// staff recorded telling it.
const (
	RecipientTold      = "told"      // acknowledged its webhook's erasure event, or staff marked its to-do done
	RecipientNotifying = "notifying" // its webhook is carrying the erasure; not acknowledged yet
	RecipientToTell    = "to_tell"   // no webhook, or the webhook gave up: staff tell it (share.NotificationTask)
)

// Recipient is one company the person's data was disclosed to, on an erasure receipt.
type Recipient struct {
	ProcessorID string     `json:"processor_id"`
	Name        string     `json:"name"`
	Webhook     bool       `json:"webhook"` // it had a webhook when the person was erased
	Status      string     `json:"status"`  // RecipientTold, RecipientNotifying or RecipientToTell
	ToldAt      *time.Time `json:"told_at,omitempty"`
	ToldBy      string     `json:"told_by,omitempty"` // "webhook" (acknowledged) or "staff" (the to-do done)
	TaskID      string     `json:"task_id,omitempty"` // the staff to-do, once made
}

// newReceiptIn builds the receipt of the erasure about to be done for rec's contact crec: what
// each holding of the personal-data register (personal.Holdings, in its order) holds of the
// person, in the register's words with the contact's own fields named, its rows counted by the
// store; the other open requests the erasure closes; and the recipients to be told. Internal
// when the store does not count a holding.
func (s *Service) newReceiptIn(ctx context.Context, tx Tx, rec *Record, crec *contact.Record) (*Receipt, error) {
	footprint, err := tx.PersonalFootprint(ctx, rec.ContactID)
	if err != nil {
		return nil, err
	}
	r := &Receipt{RequestID: rec.ID, ContactID: rec.ContactID, ErasedAt: s.Now().UTC(), Erased: []Holding{}, Kept: []Holding{},
		Recipients: []Recipient{}, Processors: []string{}, Manual: []string{}}
	others, err := tx.RequestsByContact(ctx, rec.ContactID)
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		if o.ID != rec.ID && o.Open() {
			r.ClosedRequests = append(r.ClosedRequests, ClosedRequest{ID: o.ID, Type: o.Type, ReceivedAt: o.ReceivedAt})
		}
	}
	ds, err := tx.DisclosuresOf(ctx, rec.ContactID)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if !d.Allowed || slices.ContainsFunc(r.Recipients, func(x Recipient) bool { return x.ProcessorID == d.ProcessorID }) {
			continue
		}
		p, err := tx.ProcessorByID(ctx, d.ProcessorID)
		if err != nil {
			return nil, err
		}
		r.Recipients = append(r.Recipients, Recipient{ProcessorID: p.ID, Name: p.Name, Webhook: p.WebhookURL != ""})
	}
	for _, p := range personal.Holdings() {
		rows, ok := footprint[p.ID]
		if !ok {
			return nil, apperr.New(apperr.Internal, "erasure receipt: the store does not count holding %s", p.ID)
		}
		h := Holding{Table: p.ID, Rows: rows, Erase: p.Erasure(), What: p.What}
		switch {
		case p.ID == personal.Contacts && len(crec.FieldWords()) > 0:
			h.What = "your " + listWords(crec.FieldWords())
		case p.ID == personal.ErasureLedger:
			h.Rows = 1 // the erasure appends the contact's id
		case p.ID == personal.ConsentChanges && len(r.Recipients) == 0:
			h.What = changesToNone
		}
		switch {
		case p.Deletes() && h.Rows > 0:
			r.Erased = append(r.Erased, h)
		case !p.Deletes():
			r.Kept = append(r.Kept, h)
		}
	}
	r.settle(nil, nil)
	return r, nil
}

// changesToNone is the words of the list of consent changes (personal.ConsentChanges) on the
// receipt of a person whose data went to no company: the list serves to tell the companies that
// received data (GDPR Art. 19), and there are none, so it must not say there are.
const changesToNone = "a list of the changes to your consent, by kind and date only, with no personal field: " +
	"we would send it to any company that received your data, and none did"

// settleIn reads how far each recipient has been told (its erasure deliveries and staff to-dos)
// and sets the live fields: Recipients' statuses, Processors, Manual and Notifications.
func (r *Receipt) settleIn(ctx context.Context, tx Tx) error {
	ds, err := tx.ErasureDeliveries(ctx, r.ContactID)
	if err != nil {
		return err
	}
	ts, err := tx.NotificationTasksAbout(ctx, r.ContactID)
	if err != nil {
		return err
	}
	r.Notifications = []Notification{}
	for _, d := range ds {
		r.Notifications = append(r.Notifications, Notification{ProcessorID: d.ProcessorID, Status: d.Status, DeliveredAt: d.DeliveredAt, AcknowledgedAt: d.AcknowledgedAt})
	}
	r.settle(ds, ts)
	return nil
}

// settle sets each recipient's status from the erasure deliveries ds and the to-dos ts about the
// person: told when a delivery was acknowledged or an erasure to-do is done; to be told by staff
// when it had no webhook, its webhook gave up, or a to-do is open; else notifying.
func (r *Receipt) settle(ds []share.Delivery, ts []share.NotificationTask) {
	if len(r.Recipients) == 0 && len(r.Processors)+len(r.Manual) > 0 {
		return // a receipt from before recipients were recorded: its names stay as stored
	}
	r.Processors, r.Manual = []string{}, []string{}
	for i := range r.Recipients {
		x := &r.Recipients[i]
		x.Status, x.ToldAt, x.ToldBy, x.TaskID = RecipientNotifying, nil, "", ""
		if !x.Webhook {
			x.Status = RecipientToTell
		}
		for _, d := range ds {
			if d.ProcessorID != x.ProcessorID {
				continue
			}
			if d.AcknowledgedAt != nil {
				x.Status, x.ToldAt, x.ToldBy = RecipientTold, d.AcknowledgedAt, "webhook"
			} else if d.Status == share.DeliveryFailed && x.Status != RecipientTold {
				x.Status = RecipientToTell
			}
		}
		for _, t := range ts {
			if t.ProcessorID != x.ProcessorID || t.Kind != "erased" {
				continue
			}
			x.TaskID = t.ID
			if t.DoneAt != nil && x.Status != RecipientTold {
				x.Status, x.ToldAt, x.ToldBy = RecipientTold, t.DoneAt, "staff"
			} else if t.DoneAt == nil && x.Status != RecipientTold {
				x.Status = RecipientToTell
			}
		}
		switch x.Status {
		case RecipientTold:
			r.Processors = append(r.Processors, x.Name)
		case RecipientToTell:
			r.Manual = append(r.Manual, x.Name)
		}
	}
}

// text is the receipt as the requester reads it, in plain words (GDPR Art. 12(1)).
func (r *Receipt) text() string {
	var b strings.Builder
	b.WriteString("Your personal data is erased (GDPR Art. 17). What we erased:\n\n")
	writeHoldings(&b, r.Erased, false)
	b.WriteString("\nWhat we keep, and why:\n\n")
	writeHoldings(&b, r.Kept, true)
	b.WriteString("\nBackups taken before today still hold your data until they expire; " +
		"if one is ever restored, this erasure is carried out again before the data is used.\n")
	for _, c := range r.ClosedRequests {
		fmt.Fprintf(&b, "Your request to %s, received on %s, is closed with this erasure: no data is left to act on.\n", c.Type.Label(), day(c.ReceivedAt))
	}
	recipients := r.Recipients
	if len(recipients) == 0 { // a receipt from before recipients were recorded
		for _, n := range r.Processors {
			recipients = append(recipients, Recipient{Name: n, Webhook: true, Status: RecipientNotifying})
		}
		for _, n := range r.Manual {
			recipients = append(recipients, Recipient{Name: n, Status: RecipientToTell})
		}
	}
	if len(recipients) == 0 {
		b.WriteString("No other company received your data from us, so none needs to be told (GDPR Art. 19).\n")
		return b.String()
	}
	b.WriteString("\nThese companies received some of your data from us, and each must be told of the erasure (GDPR Art. 19):\n\n")
	for _, x := range recipients {
		b.WriteString("  - " + x.sentence() + "\n")
	}
	return b.String()
}

// sentence says how far telling the recipient has come; "told" only when it is so.
func (x Recipient) sentence() string {
	switch {
	case x.Status == RecipientTold && x.ToldBy == "webhook":
		return fmt.Sprintf("%s confirmed on %s that it erased your data.", x.Name, day(*x.ToldAt))
	case x.Status == RecipientTold:
		return fmt.Sprintf("We told %s of the erasure on %s.", x.Name, day(*x.ToldAt))
	case x.Status == RecipientNotifying:
		return fmt.Sprintf("%s: our automatic notice of the erasure is on its way; it has not confirmed yet that it erased your data.", x.Name)
	}
	return fmt.Sprintf("%s: we will tell it of the erasure ourselves.", x.Name)
}

// writeHoldings lists holdings in plain words, each once; kept ones only when rows remain. A
// holding without words (a receipt from before they existed) shows its table, count and
// exemption.
func writeHoldings(b *strings.Builder, hs []Holding, kept bool) {
	var seen []string
	for _, h := range hs {
		if kept && h.Rows == 0 {
			continue
		}
		line := h.What
		switch {
		case line == "" && kept:
			line = fmt.Sprintf("%s: %d record(s), %s", h.Table, h.Rows, strings.TrimPrefix(h.Erase, "kept: "))
		case line == "":
			line = fmt.Sprintf("%s: %d record(s) deleted", h.Table, h.Rows)
		}
		if !slices.Contains(seen, line) {
			seen = append(seen, line)
			b.WriteString("  - " + line + "\n")
		}
	}
}

// listWords joins words as a sentence does: "a", "a and b", "a, b and c".
func listWords(ws []string) string {
	if len(ws) < 2 {
		return strings.Join(ws, "")
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " and " + ws[len(ws)-1]
}

// Receipt returns the erasure receipt of an erasure request, with each recipient's status and
// the text as they stand now; NotFound when the request has none. It holds holding ids, plain
// words and counts, no personal data, so it is kept in the clear and outlives the request's key.
func (s *Service) Receipt(ctx context.Context, id string) (Receipt, error) {
	var out Receipt
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := tx.RequestByID(ctx, id)
		if err != nil {
			return err
		}
		if len(rec.Receipt) == 0 {
			return apperr.New(apperr.NotFound, "the request has no erasure receipt")
		}
		if err := json.Unmarshal(rec.Receipt, &out); err != nil {
			return err
		}
		if err := out.settleIn(ctx, tx); err != nil {
			return err
		}
		out.Text = out.text()
		return nil
	})
	return out, err
}
