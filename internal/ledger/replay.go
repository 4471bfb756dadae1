package ledger

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
)

// Contacts re-applies erasures and restrictions (contact.Service). Each reports whether it
// changed the store; NotFound when the store does not hold the contact.
type Contacts interface {
	ReplayErasure(ctx context.Context, id string, at time.Time, suppressionHashes [][]byte) (bool, error)
	ReplayRestriction(ctx context.Context, id string, at time.Time) (bool, error)
}

// Consent re-applies consent events, objections, suppressions and list unsubscribes
// (consent.Service), with the same meaning of its answers as Contacts (NotFound: the store does
// not hold the contact, or the purpose).
type Consent interface {
	ReplayEvent(ctx context.Context, e consent.Event, sealed []byte) (bool, error)
	ReplayObjection(ctx context.Context, o consent.Objection) (bool, error)
	ReplaySuppression(ctx context.Context, s consent.Suppression) (bool, error)
	ReplayListUnsubscribe(ctx context.Context, u consent.PurposeUnsubscribe) (bool, error)
	// Purpose returns a purpose by id; NotFound when the store has none.
	Purpose(ctx context.Context, id string) (consent.Purpose, error)
}

// Requests re-creates or closes verified requests (dsr.Service.ReplayRequest, through an adapter
// in internal/app), with the same meaning of its answers as Contacts.
type Requests interface {
	ReplayRequest(ctx context.Context, r Request) (bool, error)
	// ReplayUnboundRequest re-creates an open erasure or restriction request of a person the
	// store does not hold, bound to no contact, so that staff still answer it by its due date
	// (dsr.Service.ReplayUnboundRequest; GDPR Art. 12(3)).
	ReplayUnboundRequest(ctx context.Context, r Request) (bool, error)
}

// Replayer re-applies a ledger to a store restored from a backup. Its fields are set once by
// internal/app.
type Replayer struct {
	Contacts Contacts
	Consent  Consent
	Requests Requests
	Store    Store
	Now      func() time.Time
	NewID    func() string
}

// Counts is what a replay did with the lines of one type. An erasure line counts as applied when
// its contact was erased again or, for a contact the store does not hold (created after the
// backup), its address hashes were put back on the suppression list; as not present only when the
// store holds neither the contact nor its erasure and the line carries no hashes (the old form).
// A withdrawal, refusal, objection, restriction or open erasure or restriction request of a
// contact the store does not hold counts as applied when it was re-applied by address
// (applyByAddress: by the keyed hash the line carries), and as already present when the store
// held that by address already; a line of the old form without a hash counts as not present.
type Counts struct {
	Applied        int `json:"applied"`         // the store changed
	AlreadyPresent int `json:"already_present"` // the store held it already (replayed before, or in the backup)
	NotPresent     int `json:"not_present"`     // the store does not hold the contact (or purpose) the line is about, and nothing was put back
}

// Result is what Replay prints: the lines read and the counts per line type (every type listed).
type Result struct {
	Lines int                `json:"lines"`
	Types map[string]*Counts `json:"types"`
	// MissingPurposes are the ids of the purposes that lines counted not_present name and the
	// store does not have (created after the backup): create each again with the same id, then
	// replay the same files again (idempotent), and those lines apply.
	MissingPurposes []string `json:"missing_purposes,omitempty"`
}

// Replay applies entries (checked by Parse), each in its own transaction through the domain
// services, and ends with an audit event "ledger.replay" naming the line types it applied.
// Request lines go first, then the rest, each in the order given: an erasure closes the person's
// open requests at the time it runs, so a request the ledger says was closed must close at its
// own time before its person's erasure is replayed (GDPR Art. 12(3): when it was answered). It
// is idempotent: a second run changes nothing and counts every line it applied as already
// present. An error stops it; what it applied stays, and running it again finishes.
func (r *Replayer) Replay(ctx context.Context, entries []Entry) (Result, error) {
	res := Result{Lines: len(entries), Types: map[string]*Counts{}}
	for _, t := range Types {
		res.Types[t] = &Counts{}
	}
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, func(a, b Entry) int { return cmp.Compare(rank(a), rank(b)) })
	for _, e := range entries {
		applied, err := r.apply(ctx, e)
		if apperr.Is(err, apperr.NotFound) {
			applied, err = r.applyByAddress(ctx, e)
		}
		c := res.Types[e.Type]
		switch {
		case err == nil && applied:
			c.Applied++
		case err == nil:
			c.AlreadyPresent++
		case apperr.Is(err, apperr.NotFound):
			c.NotPresent++
			if err := r.noteMissingPurpose(ctx, e, &res); err != nil {
				return res, err
			}
		default:
			return res, fmt.Errorf("line %d (%s): %w", e.Line, e.Type, err)
		}
	}
	var fields []string
	for _, t := range Types {
		if res.Types[t].Applied > 0 {
			fields = append(fields, t)
		}
	}
	err := r.Store.Update(ctx, func(tx Tx) error {
		ev := audit.New(ctx, r.Now().UTC(), "ledger.replay", "ledger", r.NewID(), fields...)
		return tx.AppendAudit(ctx, &ev)
	})
	return res, err
}

// noteMissingPurpose adds to res.MissingPurposes the purpose e names (a consent event's or list
// unsubscribe's purpose, an objection's scope other than direct_marketing) when the store does
// not have it.
func (r *Replayer) noteMissingPurpose(ctx context.Context, e Entry, res *Result) error {
	id := e.Purpose
	if e.Type == TypeObjection && e.Scope != consent.ScopeDirectMarketing {
		id = e.Scope
	}
	if id == "" || slices.Contains(res.MissingPurposes, id) {
		return nil
	}
	_, err := r.Consent.Purpose(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		res.MissingPurposes = append(res.MissingPurposes, id)
		return nil
	}
	return err
}

// rank orders lines for Replay: request lines before every other.
func rank(e Entry) int {
	if e.Type == TypeRequest {
		return 0
	}
	return 1
}

// apply re-applies one entry through the service that owns its rule.
func (r *Replayer) apply(ctx context.Context, e Entry) (bool, error) {
	switch e.Type {
	case TypeErasure:
		hashes := make([][]byte, 0, len(e.SuppressionHashes))
		for _, h := range e.SuppressionHashes {
			b, err := decodeHash("suppression_hashes", h)
			if err != nil {
				return false, err
			}
			hashes = append(hashes, b)
		}
		return r.Contacts.ReplayErasure(ctx, e.ContactID, e.ErasedAt.UTC(), hashes)
	case TypeSuppression:
		h, err := decodeHash("hash", e.Hash)
		if err != nil {
			return false, err
		}
		return r.Consent.ReplaySuppression(ctx, consent.Suppression{Hash: h, Reason: e.Reason, CreatedAt: e.CreatedAt.UTC(), RecordedAt: e.RecordedAt.UTC()})
	case TypeListUnsubscribe:
		h, err := decodeHash("hash", e.Hash)
		if err != nil {
			return false, err
		}
		return r.Consent.ReplayListUnsubscribe(ctx, consent.PurposeUnsubscribe{Hash: h, Purpose: e.Purpose, At: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC()})
	case TypeWithdrawal, TypeRefusal:
		sealed, err := base64.StdEncoding.DecodeString(e.EvidenceSealed)
		if err != nil {
			return false, apperr.Invalidf("evidence_sealed", "invalid_evidence", "evidence_sealed: not standard base64")
		}
		return r.Consent.ReplayEvent(ctx, consent.Event{
			ID: e.EventID, ContactID: e.ContactID, Purpose: e.Purpose, State: e.state(), Method: consent.Method(e.Method),
			PolicyVersions: e.PolicyVersions, NoticeHash: e.NoticeHash, OccurredAt: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC(), Actor: e.Actor,
		}, sealed)
	case TypeObjection:
		return r.Consent.ReplayObjection(ctx, consent.Objection{ContactID: e.ContactID, Scope: e.Scope, Method: consent.Method(e.Method),
			OccurredAt: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC(), Actor: e.Actor})
	case TypeRestriction:
		return r.Contacts.ReplayRestriction(ctx, e.ContactID, e.RestrictedAt.UTC())
	case TypeRequest:
		return r.Requests.ReplayRequest(ctx, e.request())
	}
	return false, apperr.Invalidf("type", "unknown_type", "type: unknown")
}

// request is the Request a request line describes.
func (e Entry) request() Request {
	return Request{ID: e.RequestID, Type: e.RequestType, State: e.State, ContactID: e.ContactID, Channel: e.Channel,
		ReceivedAt: e.ReceivedAt, VerifiedAt: e.VerifiedAt, DueAt: e.DueAt, ExtendedUntil: e.ExtendedUntil, ClosedAt: e.ClosedAt}
}
