package dsr

import (
	"fmt"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
)

// Type is the right a request exercises.
type Type string

// Request types, by the GDPR article granting the right.
const (
	TypeAccess          Type = "access"           // Art. 15
	TypeRectification   Type = "rectification"    // Art. 16
	TypeErasure         Type = "erasure"          // Art. 17
	TypeRestriction     Type = "restriction"      // Art. 18
	TypePortability     Type = "portability"      // Art. 20
	TypeObjection       Type = "objection"        // Art. 21
	TypeWithdrawConsent Type = "withdraw_consent" // Art. 7(3)
)

// Types lists every request type in article order.
var Types = []Type{TypeWithdrawConsent, TypeAccess, TypeRectification, TypeErasure, TypeRestriction, TypePortability, TypeObjection}

// Article is the GDPR article granting the right, as "Art. 15".
func (t Type) Article() string {
	switch t {
	case TypeAccess:
		return "Art. 15"
	case TypeRectification:
		return "Art. 16"
	case TypeErasure:
		return "Art. 17"
	case TypeRestriction:
		return "Art. 18"
	case TypePortability:
		return "Art. 20"
	case TypeObjection:
		return "Art. 21"
	case TypeWithdrawConsent:
		return "Art. 7(3)"
	}
	return ""
}

// Choice is the right as the person chooses it on the intake form: "erase my personal data", ….
func (t Type) Choice() string {
	return strings.NewReplacer("your consent", "my consent", "your personal data", "my personal data", "about you", "about me").Replace(t.Label())
}

// Label is what the requester asks for, as it reads after "to": "erase your personal data", ….
func (t Type) Label() string {
	switch t {
	case TypeAccess:
		return "see the personal data we hold about you"
	case TypeRectification:
		return "correct your personal data"
	case TypeErasure:
		return "erase your personal data"
	case TypeRestriction:
		return "restrict the processing of your personal data"
	case TypePortability:
		return "receive your personal data in a portable format"
	case TypeObjection:
		return "object to the processing of your personal data"
	case TypeWithdrawConsent:
		return "withdraw your consent"
	}
	return string(t)
}

// State is where a request stands.
type State string

// Request states: received → verifying → in_progress → (extended) → completed | rejected.
const (
	StateReceived   State = "received"
	StateVerifying  State = "verifying"   // waiting for the requester to prove who they are
	StateInProgress State = "in_progress" // identity established: being fulfilled
	StateExtended   State = "extended"    // in progress, deadline extended (Art. 12(3))
	StateCompleted  State = "completed"
	StateRejected   State = "rejected" // with a reason and the right to complain (Art. 12(4))
)

// States lists every state in workflow order.
var States = []State{StateReceived, StateVerifying, StateInProgress, StateExtended, StateCompleted, StateRejected}

// Channel is how a request arrived.
type Channel string

// Request channels.
const (
	ChannelEmail  Channel = "email"
	ChannelPhone  Channel = "phone"
	ChannelLetter Channel = "letter"
	ChannelPortal Channel = "portal"
	ChannelAPI    Channel = "api"
)

// Channels lists every channel.
var Channels = []Channel{ChannelEmail, ChannelPhone, ChannelLetter, ChannelPortal, ChannelAPI}

// Request is one data subject request, with the field names fixed by the API contract.
type Request struct {
	ID            string     `json:"id"`
	Type          Type       `json:"type"`
	State         State      `json:"state"`
	ContactID     string     `json:"contact_id,omitempty"` // empty until identity is verified
	Channel       Channel    `json:"channel"`
	ReceivedAt    time.Time  `json:"received_at"`
	DueAt         time.Time  `json:"due_at"`
	ExtendedUntil *time.Time `json:"extended_until,omitempty"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
}

// New is a request received at receivedAt, due one calendar month later. Invalid when the type or
// channel is unknown (fields type, channel).
func New(id string, t Type, ch Channel, receivedAt time.Time) (Request, error) {
	if !contains(Types, t) {
		return Request{}, apperr.Invalidf("type", "invalid_type", "type: one of %s", join(Types))
	}
	if !contains(Channels, ch) {
		return Request{}, apperr.Invalidf("channel", "invalid_channel", "channel: one of %s", join(Channels))
	}
	receivedAt = receivedAt.UTC()
	return Request{ID: id, Type: t, State: StateReceived, Channel: ch, ReceivedAt: receivedAt, DueAt: DueAt(receivedAt)}, nil
}

// Open reports whether the request still awaits an answer.
func (r Request) Open() bool { return r.State != StateCompleted && r.State != StateRejected }

// Deadline is the date the request must be answered by: extended_until when extended, else due_at.
func (r Request) Deadline() time.Time {
	if r.ExtendedUntil != nil {
		return *r.ExtendedUntil
	}
	return r.DueAt
}

// Overdue reports whether an open request has passed its deadline at now.
func (r Request) Overdue(now time.Time) bool { return r.Open() && now.After(r.Deadline()) }

// StartVerifying moves a received request to verifying; a verifying one stays so. Conflict from
// any other state.
func (r *Request) StartVerifying() error {
	if r.State == StateVerifying {
		return nil // a new link for a request already waiting for one
	}
	if r.State != StateReceived {
		return conflict(r.State, StateVerifying)
	}
	r.State = StateVerifying
	return nil
}

// Verified binds the request to the contact its verified identifier reached and moves it to
// in_progress. Conflict unless received or verifying.
func (r *Request) Verified(contactID string) error {
	if r.State != StateReceived && r.State != StateVerifying {
		return conflict(r.State, StateInProgress)
	}
	r.ContactID, r.State = contactID, StateInProgress
	return nil
}

// Extend extends the deadline by months (1 or 2) further months from receipt (Art. 12(3)); a
// reason is required, and the requester must be told within the first month, so an extension
// after due_at is refused. Once only. Invalid for the months or an empty reason; Conflict when the
// request is not in progress or is past due_at.
func (r *Request) Extend(months int, reason string, now time.Time) error {
	until, ok := ExtendedUntil(r.ReceivedAt, months)
	switch {
	case !ok:
		return apperr.Invalidf("months", "invalid_months", "months: 1 or 2 (GDPR Art. 12(3))")
	case strings.TrimSpace(reason) == "":
		return apperr.Invalidf("reason", "required", "reason: the requester is told why (GDPR Art. 12(3))")
	case r.State == StateReceived || r.State == StateVerifying:
		return &apperr.Error{Kind: apperr.Conflict, Reason: "identity_pending", Message: fmt.Sprintf("the request is %s: extend it once the identity is verified, within the first month (GDPR Art. 12(3))", r.State)}
	case r.State != StateInProgress:
		return conflict(r.State, StateExtended)
	case now.After(r.DueAt):
		return &apperr.Error{Kind: apperr.Conflict, Reason: "deadline_passed", Message: "the deadline has passed: an extension must be notified within one month of receipt (GDPR Art. 12(3))"}
	}
	r.ExtendedUntil, r.State = &until, StateExtended
	return nil
}

// Complete closes an in-progress or extended request at now. Conflict from any other state.
func (r *Request) Complete(now time.Time) error {
	if r.State != StateInProgress && r.State != StateExtended {
		return conflict(r.State, StateCompleted)
	}
	t := now.UTC()
	r.State, r.CompletedAt = StateCompleted, &t
	return nil
}

// Reject closes an open request without acting on it; the reason is required and the requester
// is told it together with the right to complain to a supervisory authority (Art. 12(4)).
// Invalid for an empty reason; Conflict for a closed request.
func (r *Request) Reject(reason string, now time.Time) error {
	if strings.TrimSpace(reason) == "" {
		return apperr.Invalidf("reason", "required", "reason: the requester is told why (GDPR Art. 12(4))")
	}
	if !r.Open() {
		return conflict(r.State, StateRejected)
	}
	t := now.UTC()
	r.State, r.CompletedAt = StateRejected, &t
	return nil
}

func conflict(from, to State) error {
	if from == to {
		return &apperr.Error{Kind: apperr.Conflict, Reason: "invalid_state", Message: fmt.Sprintf("the request is %s already", from)}
	}
	return &apperr.Error{Kind: apperr.Conflict, Reason: "invalid_state", Message: fmt.Sprintf("the request is %s; it cannot become %s", from, to)}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func join[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
