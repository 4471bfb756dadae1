package ledger

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
)

// Erasure is one entry of the store's erasure ledger: the contact id, when it was erased and the
// suppression hashes of the addresses it had.
type Erasure struct {
	ContactID         string
	ErasedAt          time.Time
	SuppressionHashes [][]byte
}

// Restriction is a contact whose processing is restricted (GDPR Art. 18) and since when.
type Restriction struct {
	ContactID    string
	RestrictedAt time.Time
}

// Request is a verified data subject request the ledger carries (RequestTypes), in package dsr's
// words: no address, message or details. VerifiedAt is zero when the timeline does not say;
// ExtendedUntil and ClosedAt are zero when not extended or still open.
type Request struct {
	ID, Type, State, ContactID, Channel                    string
	ReceivedAt, VerifiedAt, DueAt, ExtendedUntil, ClosedAt time.Time
}

// Tx is what the ledger needs from one store transaction. Each Ledger… read returns what was
// decided (or, for consent events and objections, recorded) at or after since; a zero since
// returns everything.
type Tx interface {
	LedgerErasures(ctx context.Context, since time.Time) ([]Erasure, error)
	// LedgerSuppressions returns the suppression entries by when they were recorded
	// (RecordedAt), not by the event's time (CreatedAt).
	LedgerSuppressions(ctx context.Context, since time.Time) ([]consent.Suppression, error)
	// LedgerListUnsubscribes returns the unsubscribes from purposes' lists by when they were
	// recorded (RecordedAt), not by when the person left (At).
	LedgerListUnsubscribes(ctx context.Context, since time.Time) ([]consent.PurposeUnsubscribe, error)
	// LedgerConsentEvents returns the withdrawals and refusals with their sealed evidence.
	LedgerConsentEvents(ctx context.Context, since time.Time) ([]consent.Event, [][]byte, error)
	// LedgerObjections returns the objections in force.
	LedgerObjections(ctx context.Context, since time.Time) ([]consent.Objection, error)
	// LedgerRestrictions returns the restrictions in force.
	LedgerRestrictions(ctx context.Context, since time.Time) ([]Restriction, error)
	// LedgerRequests returns the verified requests of RequestTypes that are open (whatever
	// since) or were closed at or after since.
	LedgerRequests(ctx context.Context, since time.Time) ([]Request, error)
	// LedgerAddressHashes returns, keyed by contact id, the suppression hash of the address of
	// each listed contact that has one (contact.Record.SuppressionHash).
	LedgerAddressHashes(ctx context.Context, ids []string) (map[string][]byte, error)
	AppendAudit(ctx context.Context, e *audit.Event) error
}

// Store runs read-only transactions (export) and read-write ones (the replay's audit event).
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
}

// Export reads, in one read-only transaction, every choice a restore has to re-apply that was
// made at or after since (zero: all), and returns them ordered by At, then by type (Types) and id.
func Export(ctx context.Context, store Store, since time.Time) ([]Entry, error) {
	var out []Entry
	err := store.View(ctx, func(tx Tx) error {
		var err error
		out, err = read(ctx, tx, since)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		return cmp.Or(a.At().Compare(b.At()), cmp.Compare(slices.Index(Types, a.Type), slices.Index(Types, b.Type)),
			cmp.Compare(a.ContactID, b.ContactID), cmp.Compare(a.EventID+a.RequestID+a.Scope+a.Purpose+a.Hash, b.EventID+b.RequestID+b.Scope+b.Purpose+b.Hash))
	})
	return out, nil
}

// read turns the store's records into entries.
func read(ctx context.Context, tx Tx, since time.Time) ([]Entry, error) {
	var out []Entry
	erasures, err := tx.LedgerErasures(ctx, since)
	if err != nil {
		return nil, err
	}
	for _, e := range erasures {
		en := Entry{Type: TypeErasure, ContactID: e.ContactID, ErasedAt: e.ErasedAt.UTC()}
		for _, h := range e.SuppressionHashes {
			en.SuppressionHashes = append(en.SuppressionHashes, encodeHash(h))
		}
		out = append(out, en)
	}
	sups, err := tx.LedgerSuppressions(ctx, since)
	if err != nil {
		return nil, err
	}
	for _, s := range sups {
		out = append(out, Entry{Type: TypeSuppression, Hash: encodeHash(s.Hash), Reason: s.Reason, CreatedAt: s.CreatedAt.UTC(), RecordedAt: s.RecordedAt.UTC()})
	}
	us, err := tx.LedgerListUnsubscribes(ctx, since)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		out = append(out, Entry{Type: TypeListUnsubscribe, Hash: encodeHash(u.Hash), Purpose: u.Purpose, OccurredAt: u.At.UTC(), RecordedAt: u.RecordedAt.UTC()})
	}
	events, sealed, err := tx.LedgerConsentEvents(ctx, since)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		out = append(out, eventEntry(e, sealed[i]))
	}
	objs, err := tx.LedgerObjections(ctx, since)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		out = append(out, Entry{Type: TypeObjection, ContactID: o.ContactID, Scope: o.Scope, Method: string(o.Method),
			Actor: o.Actor, OccurredAt: o.OccurredAt.UTC(), RecordedAt: o.RecordedAt.UTC()})
	}
	rs, err := tx.LedgerRestrictions(ctx, since)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		out = append(out, Entry{Type: TypeRestriction, ContactID: r.ContactID, RestrictedAt: r.RestrictedAt.UTC()})
	}
	reqs, err := tx.LedgerRequests(ctx, since)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		out = append(out, requestEntry(r))
	}
	return out, addHashes(ctx, tx, out)
}

// addHashes sets the hash of every line about a contact that Replay re-applies by address when
// the store it runs on lacks the contact (byAddress): the keyed suppression hash of the
// contact's address now, at export. A contact without an address gets none.
func addHashes(ctx context.Context, tx Tx, entries []Entry) error {
	var ids []string
	for _, e := range entries {
		if byAddress[e.Type] {
			ids = append(ids, e.ContactID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	hashes, err := tx.LedgerAddressHashes(ctx, slices.Compact(ids))
	if err != nil {
		return err
	}
	for i, e := range entries {
		if h, ok := hashes[e.ContactID]; ok && byAddress[e.Type] {
			entries[i].Hash = encodeHash(h)
		}
	}
	return nil
}

// requestEntry is the line of a request: ids, type, state, channel and times only.
func requestEntry(r Request) Entry {
	return Entry{Type: TypeRequest, RequestID: r.ID, RequestType: r.Type, ContactID: r.ContactID, State: r.State, Channel: r.Channel,
		ReceivedAt: r.ReceivedAt.UTC(), VerifiedAt: r.VerifiedAt.UTC(), DueAt: r.DueAt.UTC(), ExtendedUntil: r.ExtendedUntil.UTC(), ClosedAt: r.ClosedAt.UTC()}
}

// eventEntry is the line of a withdrawal or refusal.
func eventEntry(e consent.Event, sealed []byte) Entry {
	t := TypeWithdrawal
	if e.State == consent.Refused {
		t = TypeRefusal
	}
	en := Entry{Type: t, ContactID: e.ContactID, EventID: e.ID, Purpose: e.Purpose, Method: string(e.Method), Actor: e.Actor,
		OccurredAt: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC(), NoticeHash: e.NoticeHash}
	if len(e.PolicyVersions) > 0 {
		en.PolicyVersions = e.PolicyVersions
	}
	if len(sealed) > 0 {
		en.EvidenceSealed = base64.StdEncoding.EncodeToString(sealed)
	}
	return en
}

// WriteHeader writes the header line (TypeHeader) naming the blind-index key by indexKeyID
// (keys.Keyring.IndexKeyID); Export's callers write it before the entries.
func WriteHeader(w io.Writer, indexKeyID string) error {
	return Write(w, []Entry{{Type: TypeHeader, IndexKeyID: indexKeyID}})
}

// CheckKey says whether a file's keyed hashes were made under one of the keys named indexKeyIDs
// (the installation's blind-index keys, keys.Keyring.IndexKeyIDs: a file exported before a
// rotation names an older key of the set, under which its hashes still match): nil when its
// header names one; ErrUnchecked when it has no header (files written before it, which replay
// with a warning); ErrOtherKey when it names another key, whose hashes match nothing here.
func (f File) CheckKey(indexKeyIDs ...string) error {
	switch {
	case f.IndexKeyID == "":
		return ErrUnchecked
	case slices.Contains(indexKeyIDs, f.IndexKeyID):
		return nil
	}
	return ErrOtherKey
}

// Errors of CheckKey.
var (
	ErrUnchecked = errors.New("it names no key (written before ledger files did), so its keyed hashes could not be checked against this installation's key")
	ErrOtherKey  = errors.New("it was written under another installation's keys: its keyed hashes match nothing here (replay it on a data folder restored with the keys it was exported with)")
)

// Write writes entries as JSON lines.
func Write(w io.Writer, entries []Entry) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}
