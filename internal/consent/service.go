package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/token"
)

// Tx is what the consent rules need from one store transaction.
type Tx interface {
	PurposeByID(ctx context.Context, id string) (Purpose, error) // NotFound when absent
	ListPurposes(ctx context.Context) ([]Purpose, error)
	InsertPurpose(ctx context.Context, p Purpose) error // Conflict when the id exists
	// DataKey returns the contact's wrapped data key; NotFound when the contact does not exist.
	DataKey(ctx context.Context, contactID string) (version int, wrapped []byte, err error)
	// InsertConsentEvent appends an event; evidence is the sealed Evidence (nil when empty).
	InsertConsentEvent(ctx context.Context, e *Event, evidence []byte) error
	// ConsentEvents returns the contact's events in recorded order with their sealed evidence.
	ConsentEvents(ctx context.Context, contactID string) ([]Event, [][]byte, error)
	CurrentConsent(ctx context.Context, contactID, purpose string) (Current, error) // NotFound when none
	CurrentConsents(ctx context.Context, contactID string) ([]Current, error)
	PutCurrentConsent(ctx context.Context, c Current) error
	// SuppressionReason returns the reason of the suppression entry with this hash; NotFound when none.
	SuppressionReason(ctx context.Context, hashes ...[]byte) (string, error)
	// PurposeUnsubscribedAt returns when the address with this suppression hash left purpose's
	// list (PurposeUnsubscribe); NotFound when it did not.
	PurposeUnsubscribedAt(ctx context.Context, hashes [][]byte, purpose string) (time.Time, error)
	// AddPurposeUnsubscribes records unsubscribes from purposes' lists; an entry already
	// recorded for an address and purpose keeps its times.
	AddPurposeUnsubscribes(ctx context.Context, us []PurposeUnsubscribe) error
	AddSuppression(ctx context.Context, s Suppression) error
	// Suppression returns the entry for hash and PutSuppression sets it (SuppressTx).
	Suppression(ctx context.Context, hashes ...[]byte) (Suppression, error)
	PutSuppression(ctx context.Context, s Suppression) error
	ConfirmedOptIns(ctx context.Context, hashes [][]byte) (map[string]time.Time, error) // SuppressTx
	// ContactBySuppressionHash returns the id of a contact whose current address has one of
	// these suppression hashes, and the hash it stores ("" and nil when none).
	ContactBySuppressionHash(ctx context.Context, hashes ...[]byte) (id string, stored []byte, err error)
	AppendAudit(ctx context.Context, e *audit.Event) error
	// GateFacts returns what Decide needs about the contact for the purpose; NotFound when there
	// is no such contact. GateFactsFor does it for many (absent contacts left out).
	GateFacts(ctx context.Context, contactID, purpose string) (Facts, error)
	GateFactsFor(ctx context.Context, contactIDs []string, purpose string) (map[string]Facts, error)
	// ContactIDsByEmailIndex returns the ids of the contacts with these e-mail blind indexes,
	// keyed by string(index).
	ContactIDsByEmailIndex(ctx context.Context, idx [][]byte) (map[string]string, error)
	PutObjection(ctx context.Context, o Objection) error
	DeleteObjection(ctx context.Context, contactID, scope string) error // NotFound when none
	Objections(ctx context.Context, contactID string) ([]Objection, error)
	AppendConsentChanges(ctx context.Context, cs []Change) error
	CurrentPolicyVersions(ctx context.Context, at time.Time) (map[string]int, error)
	PolicyVersions(ctx context.Context) ([]PolicyVersion, error)
	// ConsentEventByID returns the contact's event (evidence not included); NotFound when absent.
	ConsentEventByID(ctx context.Context, contactID, id string) (Event, error)
	SetConsentApproval(ctx context.Context, id, approval, by string) error
	// RepermissionList returns lapsed consents for purpose (see Service.Repermission).
	RepermissionList(ctx context.Context, purpose string, validFrom time.Time, after string, limit int) ([]Current, error)
	// AskCandidates is RepermissionList with consents requested and not answered, of contacts
	// with an e-mail address only (see Service.Repermission).
	AskCandidates(ctx context.Context, purpose string, validFrom time.Time, after string, limit int) ([]Current, error)
}

// Store runs serialized read-write transactions, and read-only ones that never wait for them.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Service applies the consent rules. Its fields are set once by internal/app.
type Service struct {
	Store Store
	Keys  *keys.Keyring
	Now   func() time.Time
	NewID func() string
	// Cache, when set with Gen, serves Check from memory while the store's generation stands.
	Cache *GateCache
	Gen   Generation
	// Decided, when set, is told of every answer of Check and CheckEmailIndex (the metrics of
	// internal/app count them by reason). It must not block.
	Decided func(Decision)
}

// EventTable is bound into the associated data of sealed evidence.
const EventTable = "consent_events"

// Record validates e and appends it to the contact's ledger, updating the projection and writing an
// audit event "consent.record". ID, RecordedAt and (when empty) NoticeHash are filled in;
// OccurredAt defaults to now and may not lie more than 5 minutes in the future.
func (s *Service) Record(ctx context.Context, e Event) (Event, error) {
	var out Event
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		out, err = s.RecordIn(ctx, tx, e)
		return err
	})
	return out, err
}

// RecordIn is Record inside the caller's transaction. Every channel (API, import, portal,
// unsubscribe, staff) records consent through this function or, for bulk imports, through
// Prepare, Current.Apply and the same audit event.
func (s *Service) RecordIn(ctx context.Context, tx Tx, e Event) (Event, error) {
	if e.Purpose == "" {
		return Event{}, apperr.Invalidf("purpose", "required", "purpose: required")
	}
	p, err := tx.PurposeByID(ctx, e.Purpose)
	if apperr.Is(err, apperr.NotFound) {
		return Event{}, apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
	}
	if err != nil {
		return Event{}, err
	}
	version, wrapped, err := tx.DataKey(ctx, e.ContactID)
	if apperr.Is(err, apperr.NotFound) {
		return Event{}, apperr.New(apperr.NotFound, "contact not found")
	}
	if err != nil {
		return Event{}, err
	}
	if e.State == Given || e.State == Requested {
		// A restricted contact changes only through a data subject request (GDPR Art. 18):
		// consent that would widen processing waits until the restriction is lifted. A
		// withdrawal, refusal or expiry narrows it and is always recorded.
		f, err := tx.GateFacts(ctx, e.ContactID, e.Purpose)
		if err != nil {
			return Event{}, err
		}
		if err := holdRefusal(f.Hold()); err != nil {
			return Event{}, err
		}
		if err := checkStaffRequest(ctx, p, f, e.State); err != nil {
			return Event{}, err
		}
		if audit.ActorFrom(ctx).Kind == audit.ActorToken && e.State == Given {
			// Staff and integrations speak for the person only where the person has not said
			// no: a withdrawal or refusal is lifted by the person's own opt-in (the form, the
			// preference center, a confirmation link), as imports never lift one either.
			if c := f.Effective(p); c != nil && (c.State == Withdrawn || c.State == Refused) {
				reason, did := "withdrawn", "withdrew"
				if c.State == Refused {
					reason, did = "refused", "refused"
				}
				return Event{}, &apperr.Error{Kind: apperr.Conflict, Field: "state", Reason: reason,
					Message: "state: the person " + did + " consent for this purpose; only their own opt-in lifts that: they sign up again on the form (POST /p/subscribe) or subscribe on the preference center linked in our mail, and confirm by mail; a consent_request campaign does not ask them"}
			}
			if e.Method == MethodDoubleOptIn {
				return Event{}, apperr.Invalidf("method", "method_reserved", "method: double-opt-in is recorded by Tillit's own confirmation link; to have the person confirm, use POST /p/subscribe")
			}
		}
	}
	dk, err := s.Keys.OpenDataKey(e.ContactID, version, wrapped)
	if err != nil {
		return Event{}, err
	}
	vs, err := tx.PolicyVersions(ctx)
	if err != nil {
		return Event{}, err
	}
	ps := LoadPolicyState(vs, s.Now())
	at := e.OccurredAt
	if at.IsZero() || at.After(s.Now()) {
		at = s.Now()
	}
	then := LoadPolicyState(vs, at) // the documents in force when the consent was given
	if len(e.PolicyVersions) == 0 {
		// A consent event records the documents in force (GDPR Art. 7(1): the controller must be
		// able to show what the person consented to).
		e.PolicyVersions = then.Current()
	} else if err := then.Check(e.PolicyVersions); err != nil {
		return Event{}, err
	}
	e, sealed, err := s.Prepare(ctx, p, e, dk)
	if err != nil {
		return Event{}, err
	}
	if err := tx.InsertConsentEvent(ctx, &e, sealed); err != nil {
		return Event{}, err
	}
	if e.Approval == "pending" {
		ev := AuditEvent(ctx, e)
		ev.Fields = append(ev.Fields, "approval.pending")
		return e, tx.AppendAudit(ctx, &ev)
	}
	if err := s.project(ctx, tx, p, e, ps); err != nil {
		return Event{}, err
	}
	ev := AuditEvent(ctx, e)
	if err := tx.AppendAudit(ctx, &ev); err != nil {
		return Event{}, err
	}
	return e, nil
}

// policyState loads the published policy versions as of now.
func (s *Service) policyState(ctx context.Context, tx Tx) (PolicyState, error) {
	vs, err := tx.PolicyVersions(ctx)
	if err != nil {
		return PolicyState{}, err
	}
	return LoadPolicyState(vs, s.Now()), nil
}

// project makes e the current state when it supersedes the one on record, and tells processors.
// Consent given under versions older than a material change is current but needs re-consent.
func (s *Service) project(ctx context.Context, tx Tx, p Purpose, e Event, ps PolicyState) error {
	cur, err := tx.CurrentConsent(ctx, e.ContactID, e.Purpose)
	var curp *Current
	switch {
	case err == nil:
		curp = &cur
	case !apperr.Is(err, apperr.NotFound):
		return err
	}
	if next, ok := Project(e, p, curp); ok {
		next.NeedsReconsent = e.State == Given && ps.Stale(p, e.PolicyVersions)
		if err := tx.PutCurrentConsent(ctx, next); err != nil {
			return err
		}
		return tx.AppendConsentChanges(ctx, []Change{ChangeFor(e)})
	}
	return nil
}

// Approve approves staff-recorded consent that waits for a second staff member: the approver must
// be another actor than the one who recorded it (Forbidden otherwise). The event then becomes the
// current state if it supersedes the one on record ("consent.approve"). NotFound for an unknown
// event; Conflict when the event does not wait for approval.
func (s *Service) Approve(ctx context.Context, contactID, eventID string) (Event, error) {
	var out Event
	err := s.Store.Update(ctx, func(tx Tx) error {
		e, err := tx.ConsentEventByID(ctx, contactID, eventID)
		if err != nil {
			return err
		}
		if e.Approval != "pending" {
			return &apperr.Error{Kind: apperr.Conflict, Reason: "not_pending", Message: "this consent event does not wait for approval", ID: e.ID}
		}
		by := actorString(audit.ActorFrom(ctx))
		if by == e.Actor {
			return &apperr.Error{Kind: apperr.Forbidden, Reason: "same_actor", Message: "a second staff member must approve: the approver recorded this consent"}
		}
		if err := tx.SetConsentApproval(ctx, e.ID, "approved", by); err != nil {
			return err
		}
		e.Approval, e.ApprovedBy = "approved", by
		p, err := tx.PurposeByID(ctx, e.Purpose)
		if err != nil {
			return err
		}
		ps, err := s.policyState(ctx, tx)
		if err != nil {
			return err
		}
		if err := s.project(ctx, tx, p, e, ps); err != nil {
			return err
		}
		ev := audit.New(ctx, s.Now(), "consent.approve", "contact", contactID, "consent."+string(e.State))
		ev.Purpose = e.Purpose
		out = e
		return tx.AppendAudit(ctx, &ev)
	})
	return out, err
}

// Prepare validates e for purpose p, fills in ID, RecordedAt, Actor and (when empty) NoticeHash
// and PolicyVersions, and seals the evidence under the contact's data key dk. It touches no
// store. OccurredAt defaults to now and may not lie more than 5 minutes in the future.
func (s *Service) Prepare(ctx context.Context, p Purpose, e Event, dk *keys.DataKey) (Event, []byte, error) {
	now := s.Now().UTC()
	if err := CheckMethod(e.Method, e.State); err != nil {
		return Event{}, nil, err
	}
	if e.Purpose != p.ID {
		return Event{}, nil, apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
	}
	if !p.ConsentBased() {
		return Event{}, nil, apperr.Invalidf("purpose", "not_consent_based", "purpose: its lawful basis is %s; consent is recorded only for purposes based on dpv:Consent (GDPR Art. 6(1)(a)) and for accepting the terms", p.LawfulBasis)
	}
	if p.Acceptance && e.PolicyVersions[DocTermsOfService] == "" {
		return Event{}, nil, apperr.Invalidf("policy_versions", "terms_version_required", "policy_versions: accepting the terms records the terms_of_service version; publish one first")
	}
	if e.Method == MethodStaff && strings.TrimSpace(e.Evidence.Note) == "" {
		return Event{}, nil, apperr.Invalidf("evidence", "evidence_required", "evidence: consent recorded by staff needs an evidence note (the call, the paper form and where it is kept)")
	}
	if p.StaffApproval && (e.State == Given || e.State == Requested) && audit.ActorFrom(ctx).Kind == audit.ActorToken {
		// Whatever method staff name, consent they record counts only once a second staff
		// member approves it; the person's own channels (portal, unsubscribe) are not tokens.
		e.Approval = "pending"
	}
	var err error
	if e.OccurredAt, err = EventTime(e.OccurredAt, now); err != nil {
		return Event{}, nil, err
	}
	if err := CheckPolicyVersions(e.PolicyVersions); err != nil {
		return Event{}, nil, err
	}
	if e.PolicyVersions == nil {
		e.PolicyVersions = map[string]string{}
	}
	if e.NoticeHash == "" {
		e.NoticeHash = p.NoticeHash()
	}
	e.ID = s.NewID()
	e.RecordedAt = now
	e.Actor = actorString(audit.ActorFrom(ctx))
	var sealed []byte
	if e.Evidence != (Evidence{}) {
		plain, err := json.Marshal(e.Evidence)
		if err != nil {
			return Event{}, nil, err
		}
		if sealed, err = dk.Seal(EventTable, "evidence", e.ID, plain); err != nil {
			return Event{}, nil, err
		}
	}
	return e, sealed, nil
}

// EventTime returns the time to record for something that happened at at (zero: now), now being
// the server's clock: at in UTC, or now for a time up to ClockSkew ahead (nothing in the ledger
// may lie after its recording, or a later withdrawal recorded "now" would not supersede it).
// Invalid (field occurred_at) for a time further ahead (in_future) or before EarliestEvent
// (too_early).
func EventTime(at, now time.Time) (time.Time, error) {
	if at.IsZero() {
		return now, nil
	}
	at = at.UTC()
	if at.After(now.Add(ClockSkew)) {
		return time.Time{}, apperr.Invalidf("occurred_at", "in_future", "occurred_at: must not be in the future")
	}
	if at.After(now) {
		at = now
	}
	if at.Before(EarliestEvent) {
		return time.Time{}, apperr.Invalidf("occurred_at", "too_early", "occurred_at: must not be before 1990-01-01")
	}
	return at, nil
}

// holdRefusal is RecordIn's answer to consent that would widen processing while the contact is
// on hold (Facts.Hold; nil when it is not): Forbidden with the hold as reason. A restriction
// (GDPR Art. 18) changes only through a data subject request; a verified erasure or restriction
// request holds the person from verification until it is completed or rejected, so consent given
// meanwhile would stand over the person's own "erase me" or "restrict" once rejected.
func holdRefusal(h Reason) error {
	switch h {
	case "":
		return nil
	case ReasonRestricted:
		return &apperr.Error{Kind: apperr.Forbidden, Reason: string(h), Message: "the contact is restricted (GDPR Art. 18): consent is recorded again once the restriction is lifted; withdrawals are recorded at any time"}
	}
	return &apperr.Error{Kind: apperr.Forbidden, Reason: string(h), Message: "the person's verified " + map[Reason]string{ReasonErasureRequested: "erasure", ReasonRestrictionRequested: "restriction"}[h] +
		" request is open: consent is recorded again once it is completed or rejected; withdrawals are recorded at any time"}
}

// checkStaffRequest applies to a dpv:ConsentRequested that staff or an integration record (a
// token actor) the rule of whom a consent-request campaign may ask (AskOf reads a current
// request as "asked and not answered"): never over the person's refusal or withdrawal (Conflict,
// as for dpv:ConsentGiven), and for a person with no consent history for the purpose only by an
// admin or the DPO, as a campaign's include_no_history (Forbidden, role_forbidden): a request for
// marketing consent is itself direct marketing (ePrivacy Directive Art. 13).
func checkStaffRequest(ctx context.Context, p Purpose, f Facts, s State) error {
	a := audit.ActorFrom(ctx)
	if a.Kind != audit.ActorToken || s != Requested {
		return nil
	}
	c := f.Effective(p)
	switch {
	case c != nil && (c.State == Withdrawn || c.State == Refused):
		reason := "withdrawn"
		if c.State == Refused {
			reason = "refused"
		}
		return &apperr.Error{Kind: apperr.Conflict, Field: "state", Reason: reason,
			Message: "state: the person said no to this purpose; a request recorded over it would make a consent_request campaign ask them again: only their own opt-in lifts it"}
	case c == nil && a.Role != string(token.RoleAdmin) && a.Role != string(token.RoleDPO):
		return &apperr.Error{Kind: apperr.Forbidden, Field: "state", Reason: "role_forbidden",
			Message: "state: a request for a person with no consent history for this purpose makes a consent_request campaign ask them; only an admin or the DPO may decide that (ePrivacy Directive Art. 13)"}
	}
	return nil
}

// ClockSkew is how far ahead of the server's clock an event's occurred_at may be (a client clock
// running fast); such a time is recorded as the server's now.
const ClockSkew = 5 * time.Second

// EarliestEvent is the earliest time a consent event may carry: anything before it is a data
// error (a zero time, a two-digit year), not evidence.
var EarliestEvent = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

// CheckMethod checks that m is a collection method (DESIGN §2) that can record state s: an
// unsubscribe link only says no (withdraws, or refuses what a consent request asked; RFC 8058), a
// Global Privacy Control signal only refuses or withdraws. Invalid naming "state" or "method"
// otherwise.
func CheckMethod(m Method, s State) error {
	if !contains(States, s) {
		return apperr.Invalidf("state", "invalid_state", "state: must be one of dpv:ConsentRequested, dpv:ConsentGiven, dpv:ConsentRefused, dpv:ConsentWithdrawn, dpv:ConsentExpired")
	}
	if !contains(Methods, m) {
		return apperr.Invalidf("method", "invalid_method", "method: must be one of %s", MethodList())
	}
	if ok := methodStates[m]; ok != nil && !contains(ok, s) {
		return apperr.Invalidf("method", "method_state_mismatch", "method: %s records only %s", m, joinStates(ok))
	}
	return nil
}

// CheckPolicyVersions checks the policy document versions a consent event records: at most 20
// documents, named by 1 to 64 lower-case letters, digits, '-' or '_', each version 1 to 64
// characters without control characters. Invalid naming "policy_versions" otherwise.
func CheckPolicyVersions(pv map[string]string) error {
	if len(pv) > 20 {
		return apperr.Invalidf("policy_versions", "too_many", "policy_versions: at most 20 documents")
	}
	for k, v := range pv {
		if !validSlug(strings.ReplaceAll(k, "_", "-")) {
			return apperr.Invalidf("policy_versions", "invalid_document", "policy_versions: document names are 1 to 64 lower-case letters, digits, '-' or '_'")
		}
		if v == "" || len(v) > 64 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
			return apperr.Invalidf("policy_versions", "invalid_version", "policy_versions: each version is 1 to 64 characters without control characters")
		}
	}
	return nil
}

// methodStates limits the states some methods can record: an unsubscribe link only says no (RFC
// 8058): it withdraws, or refuses the consent a consent request asked for; a Global Privacy
// Control signal only refuses or withdraws. Other methods record any state.
var methodStates = map[Method][]State{
	MethodOneClick:    {Withdrawn, Refused},
	MethodGPC:         {Refused, Withdrawn},
	MethodSuppression: {Withdrawn},
}

func joinStates(ss []State) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, " or ")
}

// Project returns the projected state after event e of purpose p, given the current state cur
// (nil: none yet), and whether it replaces cur (see Supersedes).
func Project(e Event, p Purpose, cur *Current) (Current, bool) {
	if !Supersedes(e, cur) {
		return Current{}, false
	}
	return Current{
		ContactID: e.ContactID, Purpose: e.Purpose, State: e.State, LawfulBasis: p.LawfulBasis,
		Method: e.Method, OccurredAt: e.OccurredAt, PolicyVersions: maps.Clone(e.PolicyVersions), EventID: e.ID,
	}, true
}

// AuditEvent returns the "consent.record" audit event for a recorded event.
func AuditEvent(ctx context.Context, e Event) audit.Event {
	ev := audit.New(ctx, e.RecordedAt, "consent.record", "contact", e.ContactID, "consent."+string(e.State))
	ev.Purpose = e.Purpose
	return ev
}

// Ledger is a contact's consent: the current state per purpose and the full event history.
type Ledger struct {
	ContactID  string      `json:"contact_id"`
	Current    []Current   `json:"current"`
	Events     []Event     `json:"events"`
	Objections []Objection `json:"objections"` // GDPR Art. 21, in force until lifted
}

// History returns the contact's ledger with decrypted evidence and records an audit event
// "consent.read". NotFound when the contact does not exist.
func (s *Service) History(ctx context.Context, contactID string) (Ledger, error) {
	var out Ledger
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		out, err = s.HistoryIn(ctx, tx, contactID)
		return err
	})
	return out, err
}

// HistoryIn is History inside the caller's transaction.
func (s *Service) HistoryIn(ctx context.Context, tx Tx, contactID string) (Ledger, error) {
	var out Ledger
	err := func() error {
		version, wrapped, err := tx.DataKey(ctx, contactID)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.NotFound, "contact not found")
		}
		if err != nil {
			return err
		}
		ev := audit.New(ctx, s.Now(), "consent.read", "contact", contactID, "consent_events", "evidence")
		if err := tx.AppendAudit(ctx, &ev); err != nil {
			return err
		}
		dk, err := s.Keys.OpenDataKey(contactID, version, wrapped)
		if err != nil {
			return err
		}
		events, sealed, err := tx.ConsentEvents(ctx, contactID)
		if err != nil {
			return err
		}
		for i := range events {
			pt, err := dk.Open(EventTable, "evidence", events[i].ID, sealed[i])
			if err != nil {
				return fmt.Errorf("consent event %s: %w", events[i].ID, err)
			}
			if len(pt) > 0 {
				if err := json.Unmarshal(pt, &events[i].Evidence); err != nil {
					return fmt.Errorf("consent event %s: %w", events[i].ID, err)
				}
			}
		}
		cur, err := tx.CurrentConsents(ctx, contactID)
		if err != nil {
			return err
		}
		objs, err := tx.Objections(ctx, contactID)
		if err != nil {
			return err
		}
		out = Ledger{ContactID: contactID, Current: cur, Events: events, Objections: objs}
		if out.Current == nil {
			out.Current = []Current{}
		}
		if out.Events == nil {
			out.Events = []Event{}
		}
		return nil
	}()
	return out, err
}

// Purposes returns every purpose in id order.
func (s *Service) Purposes(ctx context.Context) ([]Purpose, error) {
	var out []Purpose
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListPurposes(ctx)
		return err
	})
	return out, err
}

// Purpose returns one purpose; NotFound when absent.
func (s *Service) Purpose(ctx context.Context, id string) (Purpose, error) {
	var out Purpose
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		out, err = tx.PurposeByID(ctx, id)
		return err
	})
	return out, err
}

// CreatePurpose validates and stores a purpose ("purpose.create"); Conflict when the id exists.
func (s *Service) CreatePurpose(ctx context.Context, p Purpose) (Purpose, error) {
	p.CreatedAt = s.Now().UTC()
	if err := p.Validate(); err != nil {
		return Purpose{}, err
	}
	err := s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertPurpose(ctx, p); err != nil {
			return err
		}
		ev := audit.New(ctx, p.CreatedAt, "purpose.create", "purpose", p.ID)
		return tx.AppendAudit(ctx, &ev)
	})
	return p, err
}

// EnsureDefaultPurpose creates the purposes that exist from first start, DefaultPurpose and
// TermsPurpose, when no purpose with their id exists.
func (s *Service) EnsureDefaultPurpose(ctx context.Context) error {
	return s.Store.Update(ctx, func(tx Tx) error {
		for _, p := range []Purpose{DefaultPurpose(s.Now()), TermsPurpose(s.Now())} {
			_, err := tx.PurposeByID(ctx, p.ID)
			if err == nil {
				continue
			}
			if !apperr.Is(err, apperr.NotFound) {
				return err
			}
			if err := tx.InsertPurpose(ctx, p); err != nil {
				return err
			}
			ev := audit.New(ctx, p.CreatedAt, "purpose.create", "purpose", p.ID)
			if err := tx.AppendAudit(ctx, &ev); err != nil {
				return err
			}
		}
		return nil
	})
}

func actorString(a audit.Actor) string {
	if a.ID == "" {
		return a.Kind
	}
	return a.Kind + ":" + a.ID
}

// Check is the consent gate (Decide) for one contact and purpose at this moment, reading the
// facts in a read-only transaction. It decrypts nothing, so it writes no audit event. Invalid
// for an unknown purpose; NotFound for an unknown contact.
func (s *Service) Check(ctx context.Context, contactID, purpose string) (Decision, error) {
	var gen uint64
	if s.Cache != nil && s.Gen != nil {
		var err error
		if gen, err = s.Gen.Generation(ctx); err != nil {
			return Decision{}, err
		}
		if p, f, ok := s.Cache.get(gen, contactID, purpose); ok {
			return s.decided(Decide(p, f, s.Now())), nil
		}
	}
	var d Decision
	err := s.Store.View(ctx, func(tx Tx) error {
		p, err := tx.PurposeByID(ctx, purpose)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
		}
		if err != nil {
			return err
		}
		f, err := tx.GateFacts(ctx, contactID, purpose)
		if err != nil {
			return err
		}
		if s.Cache != nil && s.Gen != nil {
			s.Cache.put(gen, contactID, p, f)
		}
		d = Decide(p, f, s.Now())
		return nil
	})
	if err != nil {
		return d, err
	}
	return s.decided(d), nil
}

// decided tells Decided of d and returns it.
func (s *Service) decided(d Decision) Decision {
	if s.Decided != nil {
		s.Decided(d)
	}
	return d
}

// CheckEmailIndex is Check for the contact with one of these e-mail blind indexes (an address's
// index under each key of the blind-index keyset, keys.Keyring.BlindIndexes). For an address
// with no contact it answers reason suppressed when one of supHashes (the address's suppression
// hash under each key) is on the suppression list (an erased, bounced or complaining person),
// withdrawn (objected, for a purpose not based on consent) when an import said the address left
// the purpose's list (PurposeUnsubscribe), and NotFound otherwise.
func (s *Service) CheckEmailIndex(ctx context.Context, idx, supHashes [][]byte, purpose string) (Decision, error) {
	var id string
	var d Decision
	answered := false // without a contact: suppressed, or unsubscribed from the purpose's list
	err := s.Store.View(ctx, func(tx Tx) error {
		ids, err := tx.ContactIDsByEmailIndex(ctx, idx)
		if err != nil {
			return err
		}
		for _, i := range idx {
			if id = ids[string(i)]; id != "" {
				return nil
			}
		}
		p, err := tx.PurposeByID(ctx, purpose)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.Invalidf("purpose", "unknown_purpose", "purpose: no purpose with this id")
		}
		if err != nil {
			return err
		}
		if _, err := tx.SuppressionReason(ctx, supHashes...); err == nil {
			// No contact holds the address (erased, or only ever unsubscribed): there is nothing
			// to process it with, whatever the purpose's basis.
			answered = true
			d = Decision{LawfulBasis: p.LawfulBasis, Reason: ReasonSuppressed}
			return nil
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		if at, err := tx.PurposeUnsubscribedAt(ctx, supHashes, purpose); err == nil {
			// The address left this purpose's list (an import said so) and no contact holds it.
			answered = true
			d = Decide(p, Facts{UnsubscribedAt: &at}, s.Now())
			return nil
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		return apperr.New(apperr.NotFound, "contact not found")
	})
	if err != nil {
		return d, err
	}
	if answered {
		return s.decided(d), nil
	}
	return s.Check(ctx, id, purpose)
}

// Object records the contact's objection (GDPR Art. 21) to one purpose, or with scope
// ScopeDirectMarketing to all direct marketing (absolute, Art. 21(3)), effective at once for the
// gate, with an audit event "consent.object" and an "objected" change for processors.
func (s *Service) Object(ctx context.Context, contactID, scope string, method Method) (Objection, error) {
	now := s.Now().UTC()
	if !contains(Methods, method) {
		return Objection{}, apperr.Invalidf("method", "invalid_method", "method: must be one of %s", MethodList())
	}
	o := Objection{ContactID: contactID, Scope: scope, Method: method, OccurredAt: now, RecordedAt: now, Actor: actorString(audit.ActorFrom(ctx))}
	err := s.Store.Update(ctx, func(tx Tx) error {
		if err := s.objectIn(ctx, tx, o); err != nil {
			return err
		}
		return nil
	})
	return o, err
}

// ObjectIn is Object inside the caller's transaction.
func (s *Service) ObjectIn(ctx context.Context, tx Tx, contactID, scope string, method Method) error {
	now := s.Now().UTC()
	return s.objectIn(ctx, tx, Objection{ContactID: contactID, Scope: scope, Method: method, OccurredAt: now, RecordedAt: now, Actor: actorString(audit.ActorFrom(ctx))})
}

// ObjectAtIn is ObjectIn for an objection made at a time of its own (at, such as the
// UNSUB_TIME of an imported unsubscribe; recorded now), and reports whether it was recorded:
// false when the contact had objected to scope already (the first objection stands).
func (s *Service) ObjectAtIn(ctx context.Context, tx Tx, contactID, scope string, method Method, at time.Time) (bool, error) {
	o := Objection{ContactID: contactID, Scope: scope, Method: method, OccurredAt: at.UTC(), RecordedAt: s.Now().UTC(), Actor: actorString(audit.ActorFrom(ctx))}
	if err := checkScope(ctx, tx, o.Scope); err != nil {
		return false, err
	}
	return s.setObjection(ctx, tx, o)
}

func (s *Service) objectIn(ctx context.Context, tx Tx, o Objection) error {
	if err := checkScope(ctx, tx, o.Scope); err != nil {
		return err
	}
	_, err := s.setObjection(ctx, tx, o)
	return err
}

// checkScope checks that the right to object applies to scope: direct marketing, or a purpose
// based on legitimate interest or a public task, or marked direct marketing or sale or sharing.
func checkScope(ctx context.Context, tx Tx, scope string) error {
	if scope == "" {
		return apperr.Invalidf("scope", "required", "scope: a purpose id or direct_marketing")
	}
	if scope != ScopeDirectMarketing {
		p, err := tx.PurposeByID(ctx, scope)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.Invalidf("scope", "unknown_purpose", "scope: no purpose with this id (or use direct_marketing)")
		}
		if err != nil {
			return err
		}
		// GDPR Art. 21(1) applies to processing on Art. 6(1)(e) or (f), and 21(2) to direct
		// marketing on any basis; consent is withdrawn, not objected to (Art. 7(3)).
		if !p.DirectMarketing && !p.SaleOrSharing && p.LawfulBasis != BasisLegitimateInterest && p.LawfulBasis != BasisPublicTask {
			return apperr.Invalidf("scope", "objection_not_applicable", "scope: the right to object (GDPR Art. 21) applies to purposes based on legitimate interest or a public task and to direct marketing; withdraw consent instead")
		}
	}
	return nil
}

// setObjection records o unless the contact objected to its scope already (the first objection
// stands), with an "objected" change and an audit event "consent.object", and reports whether it
// did. NotFound when the contact does not exist.
func (s *Service) setObjection(ctx context.Context, tx Tx, o Objection) (bool, error) {
	if _, _, err := tx.DataKey(ctx, o.ContactID); apperr.Is(err, apperr.NotFound) {
		return false, apperr.New(apperr.NotFound, "contact not found")
	} else if err != nil {
		return false, err
	}
	existing, err := tx.Objections(ctx, o.ContactID)
	if err != nil {
		return false, err
	}
	for _, e := range existing {
		if e.Scope == o.Scope {
			return false, nil // objecting again changes nothing: the first objection stands
		}
	}
	if err := tx.PutObjection(ctx, o); err != nil {
		return false, err
	}
	if err := tx.AppendConsentChanges(ctx, []Change{{ContactID: o.ContactID, Purpose: o.Scope, Change: "objected", OccurredAt: o.OccurredAt, RecordedAt: o.RecordedAt}}); err != nil {
		return false, err
	}
	ev := audit.New(ctx, s.Now().UTC(), "consent.object", "contact", o.ContactID, "objection")
	ev.Purpose = o.Scope
	return true, tx.AppendAudit(ctx, &ev)
}

// LiftObjection ends the contact's objection for scope ("consent.object_lift"); NotFound when
// there is none.
func (s *Service) LiftObjection(ctx context.Context, contactID, scope string) error {
	now := s.Now().UTC()
	return s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteObjection(ctx, contactID, scope); err != nil {
			return err
		}
		if err := tx.AppendConsentChanges(ctx, []Change{{ContactID: contactID, Purpose: scope, Change: "objection_lifted", OccurredAt: now, RecordedAt: now}}); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "consent.object_lift", "contact", contactID, "objection")
		ev.Purpose = scope
		return tx.AppendAudit(ctx, &ev)
	})
}

// ApplyGPC honours a Global Privacy Control signal (Sec-GPC: 1) from the contact: it records an
// objection, method gpc, to every purpose marked sale_or_sharing, and returns their ids.
func (s *Service) ApplyGPC(ctx context.Context, contactID string) ([]string, error) {
	var scopes []string
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		scopes, err = s.ApplyGPCIn(ctx, tx, contactID)
		return err
	})
	return scopes, err
}

// ApplyGPCIn is ApplyGPC inside the caller's transaction (public forms use it).
func (s *Service) ApplyGPCIn(ctx context.Context, tx Tx, contactID string) ([]string, error) {
	now := s.Now().UTC()
	ps, err := tx.ListPurposes(ctx)
	if err != nil {
		return nil, err
	}
	var scopes []string
	for _, p := range ps {
		if !p.SaleOrSharing {
			continue
		}
		o := Objection{ContactID: contactID, Scope: p.ID, Method: MethodGPC, OccurredAt: now, RecordedAt: now, Actor: actorString(audit.ActorFrom(ctx))}
		if err := s.objectIn(ctx, tx, o); err != nil {
			return nil, err
		}
		scopes = append(scopes, p.ID)
	}
	return scopes, nil
}

// Lapsed is one entry of the re-permission list: a contact a consent-request campaign asks.
type Lapsed struct {
	ContactID  string    `json:"contact_id"`
	State      State     `json:"state"`
	Reason     Reason    `json:"reason"` // expired, needs_reconsent, or no_consent (requested, not answered)
	OccurredAt time.Time `json:"occurred_at"`
}

// Repermission lists, in contact id order after the cursor, up to limit contacts whom a
// consent-request campaign for the consent-based purpose asks (AskOf, the campaign's own rule,
// with the gate's facts now): their consent lapsed (expired, by event or by consent_valid_days,
// or needs_reconsent) or was requested and not answered, and they have an e-mail address;
// anyone who said no or may not be processed (refused, withdrawn, objected, restricted,
// suppressed, a request open) is left out. People with no consent history, whom a campaign asks
// only with include_no_history, are not listed. It returns ids, not personal data, and the
// cursor of the next page ("" at the end).
func (s *Service) Repermission(ctx context.Context, purpose, after string, limit int) ([]Lapsed, string, error) {
	if limit <= 0 || limit > 1000 {
		return nil, "", apperr.Invalidf("limit", "invalid_limit", "limit: must be between 1 and 1000")
	}
	var out []Lapsed
	next := ""
	err := s.Store.View(ctx, func(tx Tx) error {
		p, err := tx.PurposeByID(ctx, purpose)
		if err != nil {
			return err
		}
		now := s.Now()
		var validFrom time.Time
		if p.ConsentValidDays > 0 {
			validFrom = now.UTC().AddDate(0, 0, -p.ConsentValidDays)
		}
		out, next = []Lapsed{}, ""
		for cursor := after; ; {
			cs, err := tx.AskCandidates(ctx, purpose, validFrom, cursor, limit)
			if err != nil || len(cs) == 0 {
				return err
			}
			if cursor, err = s.askedAmong(ctx, tx, p, cs, now, limit, &out); err != nil || cursor == "" {
				return err
			}
			if len(out) == limit {
				next = cursor
				return nil
			}
		}
	})
	return out, next, err
}

// askedAmong appends to out those of cs a consent-request campaign asks now (AskOf), up to
// limit in all; it returns the id of the last candidate read, "" when cs was the last page.
func (s *Service) askedAmong(ctx context.Context, tx Tx, p Purpose, cs []Current, now time.Time, limit int, out *[]Lapsed) (string, error) {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ContactID
	}
	fs, err := tx.GateFactsFor(ctx, ids, p.ID)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		f, ok := fs[c.ContactID]
		if !ok {
			continue
		}
		d := Decide(p, f, now)
		if AskOf(d, f) != AskYes {
			continue
		}
		*out = append(*out, Lapsed{ContactID: c.ContactID, State: d.State, Reason: d.Reason, OccurredAt: f.Effective(p).OccurredAt})
		if len(*out) == limit {
			return c.ContactID, nil
		}
	}
	if len(cs) < limit {
		return "", nil
	}
	return cs[len(cs)-1].ContactID, nil
}

// SweepExpired records dpv:ConsentExpired, as the system, for every consent given longer ago than
// its purpose's consent_valid_days, so expiry reaches the ledger and the change stream like any
// other change (the gate treats such consent as expired already). It handles at most batch
// consents per purpose per call and returns how many it expired; run it until it returns 0.
func (s *Service) SweepExpired(ctx context.Context, batch int) (int, error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "expiry"})
	n := 0
	err := s.Store.Update(ctx, func(tx Tx) error {
		ps, err := tx.ListPurposes(ctx)
		if err != nil {
			return err
		}
		now := s.Now().UTC()
		for _, p := range ps {
			if p.ConsentValidDays <= 0 || !p.ConsentBased() {
				continue
			}
			cutoff := now.AddDate(0, 0, -p.ConsentValidDays)
			for after, done := "", 0; done < batch; {
				page, err := tx.RepermissionList(ctx, p.ID, cutoff, after, 500)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					break
				}
				after = page[len(page)-1].ContactID
				for _, c := range page {
					if c.State != Given || !c.OccurredAt.Before(cutoff) || done >= batch {
						continue // expired already, or only waiting for re-consent
					}
					if _, err := s.RecordIn(ctx, tx, Event{
						ContactID: c.ContactID, Purpose: p.ID, State: Expired, Method: MethodAPI,
						OccurredAt:     c.OccurredAt.AddDate(0, 0, p.ConsentValidDays), // when it lapsed
						PolicyVersions: c.PolicyVersions, Evidence: Evidence{Note: fmt.Sprintf("consent older than the purpose's %d days of validity", p.ConsentValidDays)},
					}); err != nil {
						return err
					}
					done++
					n++
				}
			}
		}
		return nil
	})
	return n, err
}

// Prefetch reads the gate's facts for many contacts and one purpose in one read-only transaction
// and keeps them in the cache at the current generation, so the checks that follow (each still
// made at its moment of use) are answered from memory unless something changed meanwhile.
func (s *Service) Prefetch(ctx context.Context, contactIDs []string, purpose string) error {
	if s.Cache == nil || s.Gen == nil || len(contactIDs) == 0 {
		return nil
	}
	gen, err := s.Gen.Generation(ctx)
	if err != nil {
		return err
	}
	return s.Store.View(ctx, func(tx Tx) error {
		p, err := tx.PurposeByID(ctx, purpose)
		if err != nil {
			return err
		}
		fs, err := tx.GateFactsFor(ctx, contactIDs, purpose)
		if err != nil {
			return err
		}
		for id, f := range fs {
			s.Cache.put(gen, id, p, f)
		}
		return nil
	})
}
