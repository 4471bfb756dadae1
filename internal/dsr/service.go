package dsr

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
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/normalize"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/token"
)

// Table and eventTable are bound into the associated data of a request's sealed fields and of
// its timeline notes.
const (
	Table      = "requests"
	eventTable = "request_events"
)

// Sealed columns of a request: the requester's address, the details they gave, and the last
// reason told to them (extension or rejection).
const (
	colEmail   = "email"
	colDetails = "details"
	colReason  = "reason"
	colNote    = "note" // request_events.note_ct
)

// MaxDetails bounds the free-text details of a request, in characters.
const MaxDetails = 4000

// Record is a request as stored: the API's fields plus its assignee and sealed fields.
type Record struct {
	Request
	Assignee   string
	KeyVersion int
	EmailIndex []byte            // blind index of the requester's address; nil when none was given
	Sealed     map[string][]byte // colEmail, colDetails, colReason
	Receipt    []byte            // an erasure's receipt as JSON (Receipt; no personal data), kept in the clear
	UpdatedAt  time.Time
	Version    int

	hasAddress bool   // Complete: the bound contact has an e-mail address on file
	oldEmail   string // Complete: a rectification changing the address: the address it replaces
}

// EventRecord is one entry of a request's timeline as stored; the note is sealed.
type EventRecord struct {
	Seq       int64
	ID        string
	RequestID string
	At        time.Time
	Actor     string // audit actor "kind:id", never a person's name
	Action    string // "received", "verification_sent", "verified", "assigned", "note", "extended", "completed", "rejected", "notice_sent", "notice_unsent"
	State     State  // the request's state after the action
	Note      []byte // sealed
}

// Token is an e-mail verification link as stored: the SHA-256 of its secret.
type Token struct {
	Hash      []byte
	RequestID string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Filter selects requests for the staff queue. Zero values select everything.
type Filter struct {
	State    State
	Type     Type
	Assignee string
	Open     bool // only requests not completed or rejected
	Closed   bool // only completed or rejected requests
	Waiting  bool // only requests waiting for identity (received or verifying)
	// NotOverdueAt: only requests not overdue at this time (closed, or due after it).
	NotOverdueAt time.Time
	DueBy        time.Time // only open requests whose deadline is at or before DueBy (overdue and due-soon lists)
	After        string    // cursor: the last id of the previous page
	Limit        int
}

// Tx is what request handling needs from one store transaction.
type Tx interface {
	contact.Tx
	consent.Tx
	mail.Tx
	// RequestsByContact returns the requests bound to the contact, oldest first.
	RequestsByContact(ctx context.Context, contactID string) ([]*Record, error)
	// LegalHold reports whether the contact is under legal hold; NotFound when absent.
	LegalHold(ctx context.Context, contactID string) (bool, error)
	// UnverifiedRequestsFrom returns the requests from the address with one of these blind
	// indexes (under each key of the blind-index keyset) that are bound to no contact, oldest
	// first.
	UnverifiedRequestsFrom(ctx context.Context, emailIndexes ...[]byte) ([]*Record, error)
	// StaleUnverified returns open portal requests still waiting for identity that were
	// received before the given time.
	StaleUnverified(ctx context.Context, before time.Time, limit int) ([]*Record, error)
	// ForgetRequest destroys the request's key and deletes its mail and address index.
	ForgetRequest(ctx context.Context, requestID string) error
	// AuditEventsAbout returns every audit event about one object, oldest first.
	AuditEventsAbout(ctx context.Context, objectKind, objectID string) ([]audit.Event, error)
	// Suppression returns the suppression entry for hash; NotFound when the address is not suppressed.
	Suppression(ctx context.Context, hashes ...[]byte) (consent.Suppression, error)
	// DisclosuresOf returns the disclosures asked for about a contact, oldest first.
	DisclosuresOf(ctx context.Context, contactID string) ([]share.Disclosure, error)
	ProcessorByID(ctx context.Context, id string) (*share.Record, error)
	// ErasureDeliveries returns the "erased" webhook deliveries about a contact.
	ErasureDeliveries(ctx context.Context, contactID string) ([]share.Delivery, error)
	// NotificationTasksAbout returns the staff to-dos to tell recipients about a contact, oldest first.
	NotificationTasksAbout(ctx context.Context, contactID string) ([]share.NotificationTask, error)
	// PersonalFootprint counts the contact's rows in each holding of the personal-data register,
	// by holding id (personal.Holdings); every holding has its count.
	PersonalFootprint(ctx context.Context, contactID string) (map[string]int, error)
	InsertExport(ctx context.Context, e Export) error
	ExportByToken(ctx context.Context, hash []byte) (Export, error) // NotFound when none
	DeleteExport(ctx context.Context, id string) error              // NotFound when gone already
	DeleteExpiredExports(ctx context.Context, now time.Time) (int, error)
	InsertRequest(ctx context.Context, r *Record) error
	// UpdateRequest replaces the stored request with the same ID (NotFound when absent).
	UpdateRequest(ctx context.Context, r *Record) error
	RequestByID(ctx context.Context, id string) (*Record, error) // NotFound when absent
	// ListRequests returns requests matching f in id order (ids are time-ordered UUIDv7).
	ListRequests(ctx context.Context, f Filter) ([]*Record, error)
	// LinksSentSince counts the verification links mailed since the given time for requests
	// from the address with one of these blind indexes (under each key of the blind-index keyset).
	LinksSentSince(ctx context.Context, emailIndexes [][]byte, since time.Time) (int, error)
	AppendRequestEvent(ctx context.Context, e *EventRecord) error
	RequestEvents(ctx context.Context, requestID string) ([]EventRecord, error)
	InsertRequestToken(ctx context.Context, t Token) error
	RequestTokenByHash(ctx context.Context, hash []byte) (Token, error)   // NotFound when none
	UseRequestToken(ctx context.Context, hash []byte, at time.Time) error // NotFound when used already
}

// Store runs serialized transactions.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Service handles data subject requests. Its fields are set once by internal/cli.
type Service struct {
	Store    Store
	Contacts *contact.Service
	Consent  *consent.Service
	Keys     *keys.Keyring
	Outbox   *mail.Outbox
	Now      func() time.Time
	NewID    func() string
	BaseURL  string // public URL for links, such as https://crm.example.com
	// Controller names the company in notices; DPOEmail, when set, is given as a contact.
	Controller, DPOEmail string
	TokenTTL             time.Duration // lifetime of a verification link (default 72 h)
	ExportTTL            time.Duration // lifetime of an access bundle's download link (default 7 days)
	// LinksPerHour bounds the verification links mailed to one address in an hour (default 3),
	// so the form cannot be used to flood someone's mailbox: a request beyond it is recorded,
	// staff see it waiting, and can send its link (Resend).
	LinksPerHour int
	// Wake, when set, is told that mail is queued.
	Wake chan<- struct{}
	// AfterForget, when set, removes what a request left outside the database (mail files)
	// once its key is destroyed.
	AfterForget func(requestID string) error
}

// View is a request as staff see it: the API's fields, the assignee, the requester's address and
// details (decrypted: reading them is audited), and how much time is left.
type View struct {
	Request
	Assignee string `json:"assignee"`
	Email    string `json:"email,omitempty"`
	Details  string `json:"details,omitempty"`
	Reason   string `json:"reason,omitempty"` // the last extension or rejection reason given
	// DaysLeft is calendar days until the deadline (DaysLeft), negative past it; for a closed request, the
	// days that were left when it was closed.
	DaysLeft int  `json:"days_left"`
	Overdue  bool `json:"overdue"`        // open and past the deadline
	Late     bool `json:"late,omitempty"` // closed after the deadline
	// Erased: the request's key was destroyed when its contact was erased, so the requester's
	// address, details, reasons and notes can no longer be read.
	Erased bool `json:"erased,omitempty"`
}

// newView is rec as the queue shows it at now, decrypting nothing.
func newView(rec *Record, now time.Time) View {
	v := View{Request: rec.Request, Assignee: rec.Assignee, DaysLeft: DaysLeft(rec.Deadline(), now), Overdue: rec.Overdue(now)}
	if rec.CompletedAt != nil {
		v.DaysLeft = DaysLeft(rec.Deadline(), *rec.CompletedAt)
		v.Late = rec.CompletedAt.After(rec.Deadline())
	}
	return v
}

// Entry is one timeline entry as staff see it.
type Entry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	State  State     `json:"state"`
	Note   string    `json:"note,omitempty"`
}

// gdprApplies is the day the GDPR began to apply (Art. 99(2)): no request under it is older.
var gdprApplies = time.Date(2018, 5, 25, 0, 0, 0, 0, time.UTC)

// Intake is a request as the public form sends it.
type Intake struct {
	Type    Type
	Email   string
	Details string
}

// Input is a request as staff enter it (POST /api/v1/requests).
type Input struct {
	Type    Type    `json:"type"`
	Channel Channel `json:"channel"`
	Email   string  `json:"email"`   // the requester's address, for notices and e-mail verification
	Details string  `json:"details"` // what the requester asked, in their words
	// ReceivedAt is when the request reached the company (a letter's arrival); default now. The
	// deadline runs from it (GDPR Art. 12(3)), so it may not lie in the future.
	ReceivedAt *time.Time `json:"received_at"`
	// VerifyByEmail mails the requester a single-use verification link at once.
	VerifyByEmail bool `json:"verify_by_email"`
}

// Submit records a request from the public form and mails a single-use verification link to the
// address given. It answers nothing about the address: known or not, the caller shows the same
// page, and nothing is disclosed before the link is used. A request beyond LinksPerHour for one
// address is recorded without a mail. Invalid for an unknown type, an address that does not
// normalize, or details longer than MaxDetails.
func (s *Service) Submit(ctx context.Context, in Intake) error {
	_, err := s.SubmitForm(ctx, in)
	return err
}

// SubmitForm is Submit, and reports whether a link was mailed (false when the address had
// reached LinksPerHour: the request waits for staff, and the form says so, which tells nothing
// about whether the address is known).
func (s *Service) SubmitForm(ctx context.Context, in Intake) (linkSent bool, err error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "requests"})
	if !contains(Types, in.Type) { // first: an empty form asks for the right before the address
		return false, apperr.Invalidf("type", "invalid_type", "type: one of %s", join(Types))
	}
	norm, idx, err := s.address(in.Email)
	if err != nil {
		return false, err
	}
	if norm == "" {
		return false, apperr.Invalidf("email", "required", "email: the address the verification link is sent to")
	}
	// The links counted are the address's under every key: those sent before a rotation of the
	// blind-index keyset count too.
	all, err := s.Keys.BlindIndexes(keys.IndexEmail, normalize.Version, norm)
	if err != nil {
		return false, err
	}
	queued := false
	err = s.Store.Update(ctx, func(tx Tx) error {
		now := s.Now().UTC()
		sent, err := tx.LinksSentSince(ctx, all, now.Add(-time.Hour))
		if err != nil {
			return err
		}
		rec, dk, err := s.newRecord(ctx, tx, in.Type, ChannelPortal, now, norm, idx, in.Details)
		if err != nil {
			return err
		}
		if sent >= s.linksPerHour() {
			// Recorded, so staff see it waiting, but not mailed: the address had enough links.
			return s.event(ctx, tx, rec, dk, "received", "")
		}
		if err := s.event(ctx, tx, rec, dk, "received", ""); err != nil {
			return err
		}
		queued = true
		return s.sendLink(ctx, tx, rec, dk, norm)
	})
	if err == nil && queued {
		s.wake()
	}
	return queued, err
}

// Create records a request staff received (by e-mail, phone, letter, or an integration). With
// VerifyByEmail the requester is mailed a verification link at once (state verifying). Invalid
// for an unknown type or channel, a bad address, details over MaxDetails, a receipt time in the
// future, or VerifyByEmail without an address.
func (s *Service) Create(ctx context.Context, in Input) (View, error) {
	norm, idx, err := s.address(in.Email)
	if err != nil {
		return View{}, err
	}
	if in.VerifyByEmail && norm == "" {
		return View{}, apperr.Invalidf("email", "required", "email: required to verify by e-mail")
	}
	now := s.Now().UTC()
	received := now
	if in.ReceivedAt != nil {
		received = in.ReceivedAt.UTC()
		if received.After(now) {
			return View{}, apperr.Invalidf("received_at", "in_future", "received_at: may not lie in the future")
		}
		if received.Before(gdprApplies) {
			return View{}, apperr.Invalidf("received_at", "too_early", "received_at: not before 2018-05-25, when the GDPR began to apply (Art. 99(2))")
		}
	}
	var out View
	err = s.Store.Update(ctx, func(tx Tx) error {
		rec, dk, err := s.newRecord(ctx, tx, in.Type, in.Channel, received, norm, idx, in.Details)
		if err != nil {
			return err
		}
		if err := s.event(ctx, tx, rec, dk, "received", ""); err != nil {
			return err
		}
		if in.VerifyByEmail {
			if err := s.sendLink(ctx, tx, rec, dk, norm); err != nil {
				return err
			}
		}
		out, err = s.view(ctx, tx, rec, dk, false)
		return err
	})
	if err == nil && in.VerifyByEmail {
		s.wake()
	}
	return out, err
}

// newRecord validates and stores a new request with its own data key and audits
// "request.receive".
func (s *Service) newRecord(ctx context.Context, tx Tx, t Type, ch Channel, received time.Time, email string, idx []byte, details string) (*Record, *keys.DataKey, error) {
	details = strings.TrimSpace(details)
	if !utf8.ValidString(details) {
		return nil, nil, apperr.Invalidf("details", "invalid_text", "details: not valid UTF-8")
	}
	if utf8.RuneCountInString(details) > MaxDetails {
		return nil, nil, apperr.Invalidf("details", "too_long", "details: at most %d characters", MaxDetails)
	}
	id := s.NewID()
	req, err := New(id, t, ch, received)
	if err != nil {
		return nil, nil, err
	}
	dk, wrapped, err := s.Keys.NewDataKey(id, 1)
	if err != nil {
		return nil, nil, err
	}
	now := s.Now().UTC()
	if err := tx.InsertDataKey(ctx, id, 1, wrapped, now); err != nil {
		return nil, nil, err
	}
	rec := &Record{Request: req, KeyVersion: 1, EmailIndex: idx, Sealed: map[string][]byte{}, UpdatedAt: now, Version: 1}
	fields := []string{"type", "channel"}
	if email != "" {
		fields = append(fields, colEmail)
		if rec.Sealed[colEmail], err = dk.Seal(Table, colEmail, id, []byte(email)); err != nil {
			return nil, nil, err
		}
	}
	if details != "" {
		fields = append(fields, colDetails)
		if rec.Sealed[colDetails], err = dk.Seal(Table, colDetails, id, []byte(details)); err != nil {
			return nil, nil, err
		}
	}
	if err := tx.InsertRequest(ctx, rec); err != nil {
		return nil, nil, err
	}
	ev := audit.New(ctx, now, "request.receive", "request", id, fields...)
	return rec, dk, tx.AppendAudit(ctx, &ev)
}

// sendLink moves the request to verifying and queues a single-use verification link to email.
func (s *Service) sendLink(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey, email string) error {
	if err := rec.StartVerifying(); err != nil {
		return err
	}
	raw := make([]byte, token.SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	now := s.Now().UTC()
	if err := tx.InsertRequestToken(ctx, Token{Hash: hashToken(secret), RequestID: rec.ID, CreatedAt: now, ExpiresAt: now.Add(s.ttl())}); err != nil {
		return err
	}
	link := strings.TrimSuffix(s.BaseURL, "/") + "/p/requests/verify/" + url.PathEscape(secret)
	text := fmt.Sprintf("Someone, hopefully you, asked %s to %s (GDPR %s) for this address.\n\n"+
		"To confirm that the request is yours, open this link and press the button:\n\n%s\n\n"+
		"The link works once and expires in %d hours. Nothing about you is shown or changed before it is used. "+
		"If you did not ask, ignore this message.\n", s.controller(), rec.Type.Label(), rec.Type.Article(), link, int(s.ttl().Hours()))
	if err := s.notice(ctx, tx, rec, mail.Message{To: email, Kind: "request.verify", Subject: "Confirm your privacy request", Text: text}); err != nil {
		return err
	}
	return s.update(ctx, tx, rec, dk, "verification_sent", "")
}

// VerifyResult says what using a verification link did.
type VerifyResult struct {
	Verified bool      // false: unknown, used or expired link; nothing changed
	Type     Type      // the request's type, when verified
	Deadline time.Time // when the request will be answered by, when verified
	// Completed: the request was fulfilled at once (access, portability, withdraw_consent) and
	// the answer is on its way by e-mail.
	Completed bool
	// Objected: an objection request's person is known, and their objection to direct marketing
	// is recorded at once (absolute, GDPR Art. 21(3)); staff complete the request, with any
	// other scope it names.
	Objected bool
	// OnHold: an erasure or restriction request's person is known, and from this moment the
	// consent gate refuses every use of their data (marketing, disclosure) until the request is
	// completed or rejected (consent.ReasonErasureRequested, ReasonRestrictionRequested).
	OnHold bool
}

// automatic lists the request types fulfilled as soon as the e-mail link is used: giving the
// person their data and withdrawing consent need no staff judgement, and withdrawing must be as
// easy as giving (GDPR Art. 7(3)).
var automatic = []Type{TypeAccess, TypePortability, TypeWithdrawConsent}

// VerifyLink uses a verification link (the POST behind /p/requests/verify/{token}): the address
// the link was sent to is now verified, so the request is bound to the contact that address
// belongs to (none, when no contact has it: the request is then answered as "no data held") and
// moves to in_progress. Only this verified address is used to find data: other identifiers the
// requester named in the details are never looked up. An unknown, used or expired link changes
// nothing and is not an error.
func (s *Service) VerifyLink(ctx context.Context, secret string) (VerifyResult, error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorPublic, ID: "requests"})
	var res VerifyResult
	if !token.WellFormedLink(secret) {
		return res, nil
	}
	var id, boundTo string
	h := hashToken(secret)
	err := s.Store.Update(ctx, func(tx Tx) error {
		t, err := tx.RequestTokenByHash(ctx, h)
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
		if err := tx.UseRequestToken(ctx, h, now); err != nil {
			if apperr.Is(err, apperr.NotFound) {
				return nil
			}
			return err
		}
		rec, err := tx.RequestByID(ctx, t.RequestID)
		if err != nil {
			return err
		}
		if rec.State != StateVerifying || rec.EmailIndex == nil {
			return nil // verified by staff meanwhile, or closed
		}
		idx, err := s.addressIndexes(ctx, tx, rec) // the contact may be indexed under another key
		if err != nil {
			return err
		}
		contactID := ""
		c, err := tx.ContactByEmailIndex(ctx, idx...)
		switch {
		case err == nil:
			contactID = c.ID
		case !apperr.Is(err, apperr.NotFound):
			return err
		}
		if err := rec.Verified(contactID); err != nil {
			return err
		}
		dk, err := s.requestKey(ctx, tx, rec)
		if err != nil {
			return err
		}
		if err := s.update(ctx, tx, rec, dk, "verified", "identity verified by the e-mail link"); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "request.verify", "request", rec.ID, "contact_id")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		res = VerifyResult{Verified: true, Type: rec.Type, Deadline: rec.Deadline()}
		res.OnHold = contactID != "" && (rec.Type == TypeErasure || rec.Type == TypeRestriction)
		id, boundTo = rec.ID, contactID
		return nil
	})
	if err == nil && res.Verified && res.Type == TypeObjection && boundTo != "" {
		// Art. 21(3): once the person objects to direct marketing, it stops; that needs no
		// weighing by staff, so it does not wait for them.
		if _, err := s.Consent.Object(ctx, boundTo, consent.ScopeDirectMarketing, consent.MethodWebForm); err != nil {
			return res, err
		}
		if _, err := s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
			return s.event(ctx, tx, rec, dk, "objection_recorded", "objection to direct marketing recorded at once (GDPR Art. 21(3)); complete the request with any other scope it names")
		}); err != nil {
			return res, err
		}
		res.Objected = true
	}
	if err != nil || !res.Verified || !contains(automatic, res.Type) {
		return res, err
	}
	if _, err := s.Complete(ctx, id, Completion{Note: "fulfilled automatically once the e-mail link was used"}); err != nil {
		return res, err
	}
	res.Completed = true
	return res, nil
}

// Verify records that staff established the requester's identity some other way (a signed
// letter, a call back to the number on file) and binds the request to contactID, which must
// exist. The note, required, says how (Art. 12(6): only as much as needed to confirm identity).
// Invalid for a missing contact_id or note; NotFound for an unknown request or contact;
// Conflict unless the request is received or verifying, and Conflict with reason
// address_mismatch when the request has an address and the contact's address on file is
// another (or none): a request reaches only the records of verified identifiers (Art. 12(6)),
// so binding it elsewhere is VerifyOtherAddress, for a role that may restrict processing.
func (s *Service) Verify(ctx context.Context, id, contactID, note string) (View, error) {
	return s.verify(ctx, id, contactID, note, false)
}

// VerifyOtherAddress is Verify for a contact whose address on file is not the request's (the
// person wrote from a new address and proved who they are another way). Only an actor that may
// restrict (contacts.restrict: admin, dpo) may (mayVerifyOtherAddress: Forbidden, field
// confirm_other_address, before anything else), and the timeline says so; notices then still go
// to the address the request came from, and an access bundle's link only to the contact's own
// address on file.
func (s *Service) VerifyOtherAddress(ctx context.Context, id, contactID, note string) (View, error) {
	if err := mayVerifyOtherAddress(ctx); err != nil {
		return View{}, err
	}
	return s.verify(ctx, id, contactID, note, true)
}

func (s *Service) verify(ctx context.Context, id, contactID, note string, otherAddress bool) (View, error) {
	if strings.TrimSpace(contactID) == "" {
		return View{}, apperr.Invalidf("contact_id", "required", "contact_id: the contact whose identity was verified")
	}
	if strings.TrimSpace(note) == "" {
		return View{}, apperr.Invalidf("note", "required", "note: how the identity was verified")
	}
	return s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
		crec, err := tx.ContactByID(ctx, contactID)
		if err != nil {
			if apperr.Is(err, apperr.NotFound) {
				return apperr.Invalidf("contact_id", "unknown_contact", "contact_id: no such contact")
			}
			return err
		}
		if err := rec.Verified(contactID); err != nil {
			return err
		}
		same, err := s.sameAddress(ctx, tx, rec, crec)
		if err != nil {
			return err
		}
		if rec.EmailIndex != nil && !same {
			if !otherAddress {
				return &apperr.Error{Kind: apperr.Conflict, Field: "contact_id", Reason: "address_mismatch",
					Message: "contact_id: the request's address is not this contact's address on file; send a verification link (send_link) to reach the right record, or have a role with contacts.restrict confirm with confirm_other_address=true"}
			}
			note = "identity confirmed for a contact whose address on file differs from the request's: " + note
		} else if rec.EmailIndex != nil && !otherAddress {
			// The address matches, but it may have been put there after the request came in:
			// one agent could otherwise point a stranger's request at someone else's record.
			changed, err := addressChangedSince(ctx, tx, contactID, rec.ReceivedAt)
			if err != nil {
				return err
			}
			if changed {
				return &apperr.Error{Kind: apperr.Conflict, Field: "contact_id", Reason: "address_mismatch",
					Message: "contact_id: the contact's address on file was changed after the request came in; send a verification link (send_link), or have a role with contacts.restrict confirm with confirm_other_address=true"}
			}
		}
		ev := audit.New(ctx, s.Now(), "request.verify", "request", rec.ID, "contact_id", colNote)
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		return s.update(ctx, tx, rec, dk, "verified", note)
	})
}

// SendLink mails the requester a new single-use verification link (the request moves to, or
// stays in, verifying): for a portal request that was recorded without a link because its
// address had reached LinksPerHour, or whose link expired. Staff decide, so the hourly bound does
// not apply. Conflict unless the request is received or verifying, or when it has no address.
func (s *Service) SendLink(ctx context.Context, id string) (View, error) {
	return s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
		if dk == nil || len(rec.Sealed[colEmail]) == 0 {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "no_address", Message: "the request has no address to send a link to: verify the identity another way"}
		}
		b, err := dk.Open(Table, colEmail, rec.ID, rec.Sealed[colEmail])
		if err != nil {
			return fmt.Errorf("dsr: request %s: %w", rec.ID, err)
		}
		return s.sendLink(ctx, tx, rec, dk, string(b))
	})
}

// Extend extends the deadline by months (1 or 2) with a reason that is mailed to the requester
// (GDPR Art. 12(3)). Errors as Request.Extend.
func (s *Service) Extend(ctx context.Context, id string, months int, reason string) (View, error) {
	return s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
		if err := rec.Extend(months, reason, s.Now()); err != nil {
			return err
		}
		reason = strings.TrimSpace(reason)
		if err := s.sealReason(rec, dk, reason); err != nil {
			return err
		}
		if err := s.update(ctx, tx, rec, dk, "extended", reason); err != nil {
			return err
		}
		text := fmt.Sprintf("We received your request to %s on %s. We need more time to answer it, for this reason:\n\n%s\n\n"+
			"We will answer by %s at the latest (GDPR Art. 12(3) allows up to two further months where necessary).\n%s",
			rec.Type.Label(), day(rec.ReceivedAt), reason, day(*rec.ExtendedUntil), s.contactLine())
		return s.tell(ctx, tx, rec, dk, "request.extended", "We need more time for your privacy request", text)
	})
}

// Reject closes the request without acting on it; the reason, required, is mailed to the
// requester together with their right to complain to a supervisory authority and to a judicial
// remedy (GDPR Art. 12(4), 77, 79). NotFound for an unknown request; Forbidden (reason
// role_forbidden) when the actor may not close a request of its type (CloseNeeds, read in the
// same transaction); otherwise errors as Request.Reject.
func (s *Service) Reject(ctx context.Context, id, reason string) (View, error) {
	return s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
		if err := mayClose(ctx, rec.Type); err != nil {
			return err
		}
		if err := rec.Reject(reason, s.Now()); err != nil {
			return err
		}
		reason = strings.TrimSpace(reason)
		if err := s.sealReason(rec, dk, reason); err != nil {
			return err
		}
		if err := s.update(ctx, tx, rec, dk, "rejected", reason); err != nil {
			return err
		}
		text := fmt.Sprintf("We received your request to %s on %s. We will not act on it, for this reason:\n\n%s\n\n"+
			"You have the right to lodge a complaint with a data protection supervisory authority, in particular in the "+
			"EU member state where you live, work or where you think your rights were infringed (GDPR Art. 77), "+
			"and to seek a judicial remedy (GDPR Art. 79).\n%s",
			rec.Type.Label(), day(rec.ReceivedAt), reason, s.contactLine())
		return s.tell(ctx, tx, rec, dk, "request.rejected", "Your privacy request", text)
	})
}

// Assign sets the staff member handling the request (an opaque staff id or login, not a
// requester's data); "" unassigns. Invalid for more than 200 characters.
func (s *Service) Assign(ctx context.Context, id, assignee string) (View, error) {
	assignee = strings.TrimSpace(assignee)
	if utf8.RuneCountInString(assignee) > 200 || !utf8.ValidString(assignee) {
		return View{}, apperr.Invalidf("assignee", "too_long", "assignee: at most 200 characters")
	}
	return s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
		rec.Assignee = assignee
		note := "unassigned"
		if assignee != "" {
			note = "assigned to " + assignee
		}
		if dk == nil {
			note = ""
		}
		return s.update(ctx, tx, rec, dk, "assigned", note)
	})
}

// AddNote adds an internal note to the request's timeline (sealed; never mailed). Invalid for an
// empty note or one over MaxDetails characters.
func (s *Service) AddNote(ctx context.Context, id, note string) (View, error) {
	note = strings.TrimSpace(note)
	if note == "" || !utf8.ValidString(note) {
		return View{}, apperr.Invalidf("note", "required", "note: the text of the note")
	}
	if utf8.RuneCountInString(note) > MaxDetails {
		return View{}, apperr.Invalidf("note", "too_long", "note: at most %d characters", MaxDetails)
	}
	return s.change(ctx, id, func(tx Tx, rec *Record, dk *keys.DataKey) error {
		return s.update(ctx, tx, rec, dk, "note", note)
	})
}

// Get returns the request with its requester's address and details decrypted, audited as
// "request.read". NotFound for an unknown id.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	var out View
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, dk, err := s.load(ctx, tx, id)
		if err != nil {
			return err
		}
		out, err = s.view(ctx, tx, rec, dk, true)
		return err
	})
	return out, err
}

// List returns a page of the request queue matching f, without decrypting anything, and the
// cursor of the next page ("" after the last). Limit defaults to 50, at most 500.
func (s *Service) List(ctx context.Context, f Filter) ([]View, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 500 {
		return nil, "", apperr.Invalidf("limit", "invalid_limit", "limit: at most 500")
	}
	if f.State != "" && !contains(States, f.State) {
		return nil, "", apperr.Invalidf("state", "invalid_state", "state: one of %s", join(States))
	}
	if f.Type != "" && !contains(Types, f.Type) {
		return nil, "", apperr.Invalidf("type", "invalid_type", "type: one of %s", join(Types))
	}
	want := f.Limit
	f.Limit++
	var out []View
	next := ""
	err := s.Store.Update(ctx, func(tx Tx) error {
		recs, err := tx.ListRequests(ctx, f)
		if err != nil {
			return err
		}
		if len(recs) > want {
			recs = recs[:want]
			next = recs[want-1].ID
		}
		now := s.Now()
		out = make([]View, len(recs))
		for i, r := range recs {
			out[i] = newView(r, now)
		}
		return nil
	})
	return out, next, err
}

// Status returns the request as the queue shows it, decrypting nothing. NotFound for an unknown id.
func (s *Service) Status(ctx context.Context, id string) (View, error) {
	var out View
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, err := tx.RequestByID(ctx, id)
		if err != nil {
			return err
		}
		out, err = s.view(ctx, tx, rec, nil, false)
		return err
	})
	return out, err
}

// Timeline returns the request's timeline, oldest first, with notes decrypted (audited as
// "request.read" of the notes). NotFound for an unknown id.
func (s *Service) Timeline(ctx context.Context, id string) ([]Entry, error) {
	var out []Entry
	err := s.Store.Update(ctx, func(tx Tx) error {
		_, dk, err := s.load(ctx, tx, id)
		if err != nil {
			return err
		}
		evs, err := tx.RequestEvents(ctx, id)
		if err != nil {
			return err
		}
		ev := audit.New(ctx, s.Now(), "request.read", "request", id, "timeline")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		out = make([]Entry, len(evs))
		for i, e := range evs {
			out[i] = Entry{At: e.At, Actor: e.Actor, Action: e.Action, State: e.State}
			if len(e.Note) > 0 && dk != nil {
				note, err := dk.Open(eventTable, colNote, e.ID, e.Note)
				if err != nil {
					return fmt.Errorf("dsr: request %s note %d: %w", id, e.Seq, err)
				}
				out[i].Note = string(note)
			}
		}
		return nil
	})
	return out, err
}

// change runs fn on the stored request in one transaction and returns the request as staff see it.
func (s *Service) change(ctx context.Context, id string, fn func(Tx, *Record, *keys.DataKey) error) (View, error) {
	var out View
	queued := false
	err := s.Store.Update(ctx, func(tx Tx) error {
		rec, dk, err := s.load(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(tx, rec, dk); err != nil {
			return err
		}
		queued = true
		out, err = s.view(ctx, tx, rec, dk, false)
		return err
	})
	if err == nil && queued {
		s.wake()
	}
	return out, err
}

// update stores rec after an action and appends the action to its timeline and the audit log.
func (s *Service) update(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey, action, note string) error {
	rec.UpdatedAt, rec.Version = s.Now().UTC(), rec.Version+1
	if err := tx.UpdateRequest(ctx, rec); err != nil {
		return err
	}
	if err := s.event(ctx, tx, rec, dk, action, note); err != nil {
		return err
	}
	if action == "verified" {
		return nil // audited by the caller, with the fields it set
	}
	fields := []string{"state"}
	switch action {
	case "assigned":
		fields = []string{"assignee"}
	case "note":
		fields = []string{colNote}
	case "extended":
		fields = append(fields, "extended_until", colReason)
	case "rejected":
		fields = append(fields, "completed_at", colReason)
	case "completed":
		fields = append(fields, "completed_at")
	}
	ev := audit.New(ctx, rec.UpdatedAt, "request."+action, "request", rec.ID, fields...)
	return tx.AppendAudit(ctx, &ev)
}

// event appends an entry to the request's timeline, its note sealed under the request's key.
func (s *Service) event(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey, action, note string) error {
	a := audit.ActorFrom(ctx)
	e := &EventRecord{ID: s.NewID(), RequestID: rec.ID, At: s.Now().UTC(), Actor: a.Kind + ":" + a.ID, Action: action, State: rec.State}
	if note != "" && dk == nil {
		return errErased
	}
	if note != "" {
		var err error
		if e.Note, err = dk.Seal(eventTable, colNote, e.ID, []byte(note)); err != nil {
			return err
		}
	}
	return tx.AppendRequestEvent(ctx, e)
}

// tell mails a notice about the request to its requester: the address they gave, or else the
// address of the verified contact. Without either, the timeline records that the notice must
// go by the channel the request came through.
func (s *Service) tell(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey, kind, subject, text string) error {
	return s.tellTo(ctx, tx, rec, dk, kind, subject, text, false)
}

// tellTo is tell; with contactOnly the notice goes only to the verified contact's own address
// on file, whatever address the requester gave (an access bundle's link must reach the person
// whose data it is, not an address staff typed in).
func (s *Service) tellTo(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey, kind, subject, text string, contactOnly bool) error {
	return s.notify(ctx, tx, rec, dk, mail.Message{Kind: kind, Subject: subject, Text: text}, contactOnly)
}

// notify queues m (kind, subject, text and Last set by the caller) to the requester, as tellTo.
// It reports through the timeline whether a notice went out; a Last notice that cannot be sent
// destroys the request's key at once.
func (s *Service) notify(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey, m mail.Message, contactOnly bool) error {
	if dk == nil {
		return errErased
	}
	to := ""
	if ct := rec.Sealed[colEmail]; len(ct) > 0 && !contactOnly {
		b, err := dk.Open(Table, colEmail, rec.ID, ct)
		if err != nil {
			return fmt.Errorf("dsr: request %s: %w", rec.ID, err)
		}
		to = string(b)
	} else if rec.ContactID != "" {
		c, err := tx.ContactByID(ctx, rec.ContactID)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return err
		}
		if err == nil && c.EmailIndex != nil {
			full, err := s.Contacts.OpenIn(ctx, tx, c)
			if err != nil {
				return err
			}
			to = full.Email
		}
	}
	if to == "" {
		if err := s.event(ctx, tx, rec, dk, "notice_unsent", "no e-mail address: tell the requester by "+string(rec.Channel)); err != nil {
			return err
		}
		if m.Last {
			return tx.ForgetRequest(ctx, rec.ID)
		}
		return nil
	}
	m.To = to
	if err := s.notice(ctx, tx, rec, m); err != nil {
		return err
	}
	return s.event(ctx, tx, rec, dk, "notice_sent", "")
}

// notice queues m, a transactional message about the request, sealed under the request's key.
func (s *Service) notice(ctx context.Context, tx Tx, rec *Record, m mail.Message) error {
	m.Text += fmt.Sprintf("\nRequest reference: %s\n", rec.ID)
	m.ID, m.RequestID, m.Stream, m.CreatedAt = s.NewID(), rec.ID, mail.Transactional, s.Now().UTC()
	return s.Outbox.EnqueueIn(ctx, tx, m)
}

func (s *Service) sealReason(rec *Record, dk *keys.DataKey, reason string) error {
	if dk == nil {
		return errErased
	}
	ct, err := dk.Seal(Table, colReason, rec.ID, []byte(reason))
	rec.Sealed[colReason] = ct
	return err
}

// view returns rec as staff see it; with open, the sealed fields are decrypted and the read is
// audited ("request.read").
func (s *Service) view(ctx context.Context, tx Tx, rec *Record, dk *keys.DataKey, open bool) (View, error) {
	now := s.Now()
	v := newView(rec, now)
	if !open {
		return v, nil
	}
	if dk == nil {
		v.Erased = true
		return v, nil
	}
	var fields []string
	for _, col := range []string{colEmail, colDetails, colReason} {
		if len(rec.Sealed[col]) > 0 {
			fields = append(fields, col)
		}
	}
	ev := audit.New(ctx, now, "request.read", "request", rec.ID, fields...)
	if err := tx.AppendAudit(ctx, &ev); err != nil {
		return View{}, err
	}
	for _, col := range fields {
		b, err := dk.Open(Table, col, rec.ID, rec.Sealed[col])
		if err != nil {
			return View{}, fmt.Errorf("dsr: request %s field %s: %w", rec.ID, col, err)
		}
		switch col {
		case colEmail:
			v.Email = string(b)
		case colDetails:
			v.Details = string(b)
		case colReason:
			v.Reason = string(b)
		}
	}
	return v, nil
}

// load reads the request and opens its data key; the key is nil when it was destroyed with the
// request's contact (ForgetRequest).
func (s *Service) load(ctx context.Context, tx Tx, id string) (*Record, *keys.DataKey, error) {
	rec, err := tx.RequestByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	dk, err := s.requestKey(ctx, tx, rec)
	if apperr.Is(err, apperr.NotFound) {
		return rec, nil, nil
	}
	return rec, dk, err
}

// errErased refuses a change that would seal new data under a destroyed key.
var errErased = &apperr.Error{Kind: apperr.Conflict, Reason: "erased", Message: "the request's data was erased with its contact; it takes no more notes or notices"}

func (s *Service) requestKey(ctx context.Context, tx Tx, rec *Record) (*keys.DataKey, error) {
	version, wrapped, err := tx.DataKey(ctx, rec.ID)
	if err != nil {
		return nil, fmt.Errorf("dsr: request %s: data key: %w", rec.ID, err)
	}
	return s.Keys.OpenDataKey(rec.ID, version, wrapped)
}

// address normalizes an optional requester address and returns it with its blind index.
func (s *Service) address(email string) (norm string, idx []byte, err error) {
	if strings.TrimSpace(email) == "" {
		return "", nil, nil
	}
	if norm, err = normalize.Email(email); err != nil {
		return "", nil, err
	}
	idx, err = s.Keys.BlindIndex(keys.IndexEmail, normalize.Version, norm)
	return norm, idx, err
}

func (s *Service) controller() string {
	if s.Controller != "" {
		return s.Controller
	}
	return "us"
}

func (s *Service) contactLine() string {
	if s.DPOEmail == "" {
		return ""
	}
	return fmt.Sprintf("\nOur data protection officer can be reached at %s.\n", s.DPOEmail)
}

func (s *Service) ttl() time.Duration {
	if s.TokenTTL > 0 {
		return s.TokenTTL
	}
	return 72 * time.Hour
}

func (s *Service) linksPerHour() int {
	if s.LinksPerHour > 0 {
		return s.LinksPerHour
	}
	return 3
}

func (s *Service) wake() {
	if s.Wake == nil {
		return
	}
	select {
	case s.Wake <- struct{}{}:
	default:
	}
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte("tillit:dsr:" + secret))
	return h[:]
}

// day formats a time as the calendar day it falls on, in UTC.
func day(t time.Time) string { return t.UTC().Format("2 January 2006") }

// addressChangedSince reports whether the contact's e-mail address was written by an update or
// a rectification after since (its audit trail; GDPR Art. 12(6): a request is bound to a
// person only on the strength of who they are, not of an address staff just gave the record).
func addressChangedSince(ctx context.Context, tx Tx, contactID string, since time.Time) (bool, error) {
	events, err := tx.AuditEventsAbout(ctx, "contact", contactID)
	if err != nil {
		return false, err
	}
	for _, e := range events {
		if (e.Action == "contact.update" || e.Action == "contact.rectify") && e.At.After(since) && slices.Contains(e.Fields, "email") {
			return true, nil
		}
	}
	return false, nil
}
