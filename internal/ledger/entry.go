package ledger

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/jsonin"
	"github.com/tillit/tillit/internal/keys"
)

// Line types, the value of every line's "type".
const (
	TypeErasure         = "erasure"          // a contact erased (GDPR Art. 17)
	TypeSuppression     = "suppression"      // an address on the suppression list, as its keyed hash
	TypeListUnsubscribe = "list_unsubscribe" // an address that left one purpose's list, as its keyed hash (consent.PurposeUnsubscribe)
	TypeWithdrawal      = "withdrawal"       // a consent event dpv:ConsentWithdrawn (Art. 7(3))
	TypeRefusal         = "refusal"          // a consent event dpv:ConsentRefused
	TypeObjection       = "objection"        // an objection in force (Art. 21)
	TypeRestriction     = "restriction"      // a restriction in force (Art. 18)
	TypeRequest         = "request"          // a verified erasure, restriction, objection or withdrawal request (dsr.LedgerTypes), open or closed since
)

// TypeHeader is the type of a file's first line, written by WriteHeader: it names the
// installation's blind-index key (keys.Keyring.IndexKeyID), under which the file's keyed hashes
// were made. It is no choice and has no counts. Files written before it have none.
const TypeHeader = "ledger"

// Types lists every line type, in the order lines of the same time are written.
var Types = []string{TypeErasure, TypeSuppression, TypeListUnsubscribe, TypeWithdrawal, TypeRefusal, TypeObjection, TypeRestriction, TypeRequest}

// Entry is one line of the ledger: JSON with "type" and the fields of that type (fieldsOf).
// Times are RFC 3339 UTC; hashes are lower-case hex of keys.IndexSize bytes; evidence_sealed is
// the standard base64 of the evidence as stored, sealed under the person's data key.
type Entry struct {
	Line              int               `json:"-"` // the line number it was read from (1-based); 0 for an exported entry
	Type              string            `json:"type,omitempty"`
	ContactID         string            `json:"contact_id,omitempty"`
	EventID           string            `json:"event_id,omitempty"`
	Purpose           string            `json:"purpose,omitempty"`
	Scope             string            `json:"scope,omitempty"` // an objection's purpose id or direct_marketing
	Hash              string            `json:"hash,omitempty"`  // a suppression's or list unsubscribe's; optional on the lines of byAddress
	Reason            string            `json:"reason,omitempty"`
	Method            string            `json:"method,omitempty"`
	Actor             string            `json:"actor,omitempty"`
	ErasedAt          time.Time         `json:"erased_at,omitzero"`
	CreatedAt         time.Time         `json:"created_at,omitzero"`
	OccurredAt        time.Time         `json:"occurred_at,omitzero"`
	RecordedAt        time.Time         `json:"recorded_at,omitzero"`
	RestrictedAt      time.Time         `json:"restricted_at,omitzero"`
	SuppressionHashes []string          `json:"suppression_hashes,omitempty"`
	PolicyVersions    map[string]string `json:"policy_versions,omitempty"`
	NoticeHash        string            `json:"notice_hash,omitempty"`
	EvidenceSealed    string            `json:"evidence_sealed,omitempty"`
	IndexKeyID        string            `json:"index_key_id,omitempty"` // the header's
	// A request's: its id, type, state, channel and times; never the requester's address,
	// message or details.
	RequestID     string    `json:"request_id,omitempty"`
	RequestType   string    `json:"request_type,omitempty"`
	State         string    `json:"state,omitempty"`
	Channel       string    `json:"channel,omitempty"`
	ReceivedAt    time.Time `json:"received_at,omitzero"`
	VerifiedAt    time.Time `json:"verified_at,omitzero"`
	DueAt         time.Time `json:"due_at,omitzero"`
	ExtendedUntil time.Time `json:"extended_until,omitzero"`
	ClosedAt      time.Time `json:"closed_at,omitzero"` // completed or rejected at
}

// fields are the required and optional fields of one line type.
type fields struct{ required, optional []string }

// fieldsOf says which fields each line type has; any other field is an error.
var fieldsOf = map[string]fields{
	TypeErasure: {[]string{"contact_id", "erased_at"}, []string{"suppression_hashes"}},
	// created_at: when it happened (a bounce, an erasure, an imported CLEAN_TIME); recorded_at:
	// when Tillit recorded it, which --since reads (files written before it carry none).
	TypeSuppression: {[]string{"hash", "reason", "created_at"}, []string{"recorded_at"}},
	// occurred_at: when the person left the list (the file's UNSUB_TIME); recorded_at: when the
	// import recorded it, which --since reads.
	TypeListUnsubscribe: {[]string{"hash", "purpose", "occurred_at", "recorded_at"}, nil},
	// The lines about a contact below carry, optionally, "hash": the keyed suppression hash of
	// the contact's address when the line was exported, by which Replay re-applies the choice
	// when the store lacks the contact (byAddress; lines written before it carry none).
	TypeWithdrawal:  {eventRequired, eventOptional},
	TypeRefusal:     {eventRequired, eventOptional},
	TypeObjection:   {[]string{"contact_id", "scope", "method", "occurred_at", "recorded_at"}, []string{"actor", "hash"}},
	TypeRestriction: {[]string{"contact_id", "restricted_at"}, []string{"hash"}},
	TypeHeader:      {[]string{"index_key_id"}, nil},
	// closed_at: required when state is completed or rejected, else absent (checkRequest).
	TypeRequest: {[]string{"request_id", "request_type", "contact_id", "state", "channel", "received_at", "due_at"},
		[]string{"verified_at", "extended_until", "closed_at", "hash"}},
}

var (
	eventRequired = []string{"contact_id", "event_id", "purpose", "method", "occurred_at", "recorded_at"}
	eventOptional = []string{"actor", "policy_versions", "notice_hash", "evidence_sealed", "hash"}
)

// byAddress are the line types about a contact that carry the optional hash of its address.
var byAddress = map[string]bool{TypeWithdrawal: true, TypeRefusal: true, TypeObjection: true, TypeRestriction: true, TypeRequest: true}

// At returns when the choice was made (recorded, for consent events, objections, suppressions
// and list unsubscribes): the time --since compares and lines are ordered by.
func (e Entry) At() time.Time {
	switch e.Type {
	case TypeErasure:
		return e.ErasedAt
	case TypeSuppression:
		if !e.RecordedAt.IsZero() {
			return e.RecordedAt
		}
		return e.CreatedAt
	case TypeRestriction:
		return e.RestrictedAt
	case TypeRequest:
		return cmpOr(e.ClosedAt, e.VerifiedAt, e.ReceivedAt)
	}
	return e.RecordedAt
}

// cmpOr returns the first time that is not zero.
func cmpOr(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// LineError is a bad line of a ledger file: its number (1-based) and the field at fault.
type LineError struct {
	Line  int
	Field string
	Msg   string // starts with the field's name
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// MaxLine is the longest line Parse reads, in bytes.
const MaxLine = 1 << 20

// File is a ledger file as read: the blind-index key id of its header ("" when it has none, as
// files written before the header) and its entries.
type File struct {
	IndexKeyID string
	Entries    []Entry
}

// Parse reads a whole ledger file and returns its entries (ReadFile).
func Parse(r io.Reader) ([]Entry, error) {
	f, err := ReadFile(r)
	return f.Entries, err
}

// ReadFile reads a whole ledger file (JSON lines; blank lines are skipped) and checks every line
// before returning any: the first bad one is a *LineError. The header (TypeHeader) may only be
// the first line. A line without "type" whose only fields are contact_id and erased_at is an
// erasure (files written before the ledger carried more than erasures).
func ReadFile(r io.Reader) (File, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	var f File
	var out []Entry
	n, read := 0, 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			ae := apperr.As(err)
			if ae == nil {
				return File{}, err
			}
			field, msg := ae.Field, ae.Message
			if field == "body" { // jsonin's name for the whole document
				field, msg = "line", "line"+strings.TrimPrefix(msg, "body")
			}
			return File{}, &LineError{Line: n, Field: field, Msg: msg}
		}
		read++
		if e.Type == TypeHeader {
			if read > 1 {
				return File{}, &LineError{Line: n, Field: "type", Msg: "type: a ledger header is only the file's first line"}
			}
			f.IndexKeyID = e.IndexKeyID
			continue
		}
		e.Line = n
		out = append(out, e)
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return File{}, &LineError{Line: n + 1, Field: "line", Msg: fmt.Sprintf("line: longer than %d bytes", MaxLine)}
	}
	f.Entries = out
	return f, sc.Err()
}

// parseLine decodes one line strictly and checks it; errors are apperr.Invalid naming the field.
func parseLine(line []byte) (Entry, error) {
	var e Entry
	if err := jsonin.Decode(line, &e); err != nil {
		return Entry{}, err
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(line, &present); err != nil {
		return Entry{}, apperr.Invalidf("line", "malformed_json", "line: not a JSON object")
	}
	if _, ok := present["type"]; !ok {
		if len(present) != 2 || present["contact_id"] == nil || present["erased_at"] == nil {
			return Entry{}, apperr.Invalidf("type", "required", "type: required (one of %s)", strings.Join(Types, ", "))
		}
		e.Type = TypeErasure
	}
	f, ok := fieldsOf[e.Type]
	if !ok {
		return Entry{}, apperr.Invalidf("type", "unknown_type", "type: must be one of %s", strings.Join(Types, ", "))
	}
	for k := range present {
		if k != "type" && !slices.Contains(f.required, k) && !slices.Contains(f.optional, k) {
			return Entry{}, apperr.Invalidf(k, "not_of_type", "%s: not a field of a %s line", k, e.Type)
		}
	}
	for _, k := range f.required {
		if v, ok := present[k]; !ok || string(v) == "null" || string(v) == `""` {
			return Entry{}, apperr.Invalidf(k, "required", "%s: required in a %s line", k, e.Type)
		}
	}
	if v, ok := present["hash"]; ok && (string(v) == "null" || string(v) == `""`) {
		return Entry{}, decodeErr("hash") // an optional hash, when given, is a keyed hash
	}
	return e, e.check()
}

// now is the clock check reads: times of what happened may be at most consent.ClockSkew ahead.
var now = time.Now

// check checks the values of e's fields (presence is checked by parseLine).
func (e Entry) check() error {
	for _, id := range []struct{ field, v string }{{"contact_id", e.ContactID}, {"event_id", e.EventID}, {"request_id", e.RequestID}} {
		if id.v != "" && !validID(id.v) {
			return apperr.Invalidf(id.field, "invalid_id", "%s: 1 to 128 letters, digits, '-', '_', '.' or ':'", id.field)
		}
	}
	latest := now().Add(consent.ClockSkew)
	for _, t := range []struct {
		field  string
		v      time.Time
		future bool // a deadline, not something that happened
	}{{"erased_at", e.ErasedAt, false}, {"created_at", e.CreatedAt, false}, {"occurred_at", e.OccurredAt, false}, {"recorded_at", e.RecordedAt, false},
		{"restricted_at", e.RestrictedAt, false}, {"received_at", e.ReceivedAt, false}, {"verified_at", e.VerifiedAt, false},
		{"due_at", e.DueAt, true}, {"extended_until", e.ExtendedUntil, true}, {"closed_at", e.ClosedAt, false}} {
		if !t.v.IsZero() && t.v.Before(consent.EarliestEvent) {
			return apperr.Invalidf(t.field, "too_early", "%s: must not be before 1990-01-01", t.field)
		}
		// A choice dated in the future would stay current against every later one, the person's
		// own new double opt-in included (consent.Supersedes orders by time).
		if !t.future && t.v.After(latest) {
			return apperr.Invalidf(t.field, "in_future", "%s: must not be in the future", t.field)
		}
	}
	if e.Hash != "" {
		if _, err := decodeHash("hash", e.Hash); err != nil {
			return err
		}
	}
	if e.IndexKeyID != "" {
		if _, err := decodeHash("index_key_id", e.IndexKeyID); err != nil {
			return err
		}
	}
	for _, h := range e.SuppressionHashes {
		if _, err := decodeHash("suppression_hashes", h); err != nil {
			return err
		}
	}
	if e.Reason != "" && !slices.Contains(consent.SuppressionReasons, e.Reason) {
		return apperr.Invalidf("reason", "invalid_reason", "reason: must be one of %s", strings.Join(consent.SuppressionReasons, ", "))
	}
	if e.Purpose != "" && !consent.ValidID(e.Purpose) {
		return apperr.Invalidf("purpose", "invalid_purpose", "purpose: 1 to 64 lower-case letters, digits and '-'")
	}
	if e.Scope != "" && e.Scope != consent.ScopeDirectMarketing && !consent.ValidID(e.Scope) {
		return apperr.Invalidf("scope", "invalid_scope", "scope: a purpose id or direct_marketing")
	}
	if e.Type == TypeRequest {
		return e.checkRequest()
	}
	return e.checkEvent()
}

// The words of package dsr a request line uses (the ledger, a domain package, does not import
// dsr, which sends mail; dsr's tests check these lists against its own).
var (
	// RequestTypes are the request types the ledger carries once verified: each stops or narrows
	// the use of the person's data from its verification (GDPR Art. 7(3), 17, 18, 21).
	RequestTypes = []string{"erasure", "restriction", "objection", "withdraw_consent"}
	// RequestStates are a verified request's states; the last two are closed.
	RequestStates   = []string{"in_progress", "extended", "completed", "rejected"}
	RequestChannels = []string{"email", "phone", "letter", "portal", "api"}
)

// checkRequest checks a request line's type, state and channel and that closed_at is given
// exactly when the state is closed.
func (e Entry) checkRequest() error {
	if !slices.Contains(RequestTypes, e.RequestType) {
		return apperr.Invalidf("request_type", "invalid_type", "request_type: one of %s", strings.Join(RequestTypes, ", "))
	}
	if !slices.Contains(RequestStates, e.State) {
		return apperr.Invalidf("state", "invalid_state", "state: a verified request's: %s", strings.Join(RequestStates, ", "))
	}
	if !slices.Contains(RequestChannels, e.Channel) {
		return apperr.Invalidf("channel", "invalid_channel", "channel: one of %s", strings.Join(RequestChannels, ", "))
	}
	closed := slices.Index(RequestStates, e.State) >= 2
	if closed == e.ClosedAt.IsZero() {
		return apperr.Invalidf("closed_at", "invalid_closed_at", "closed_at: required for a completed or rejected request, and only then")
	}
	return nil
}

// checkEvent checks the fields of consent events and objections.
func (e Entry) checkEvent() error {
	switch e.Type {
	case TypeWithdrawal, TypeRefusal:
		if err := consent.CheckMethod(consent.Method(e.Method), e.state()); err != nil {
			return err
		}
	case TypeObjection:
		if !slices.Contains(consent.Methods, consent.Method(e.Method)) {
			return apperr.Invalidf("method", "invalid_method", "method: must be one of %s", consent.MethodList())
		}
	}
	if len(e.Actor) > 200 || strings.ContainsFunc(e.Actor, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return apperr.Invalidf("actor", "invalid_actor", "actor: at most 200 characters without control characters")
	}
	if err := consent.CheckPolicyVersions(e.PolicyVersions); err != nil {
		return err
	}
	if len(e.NoticeHash) > 128 || strings.ContainsFunc(e.NoticeHash, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return apperr.Invalidf("notice_hash", "invalid_hash", "notice_hash: the hash of the notice text, at most 128 characters without spaces")
	}
	if b, err := base64.StdEncoding.DecodeString(e.EvidenceSealed); err != nil || len(b) > 64<<10 {
		return apperr.Invalidf("evidence_sealed", "invalid_evidence", "evidence_sealed: standard base64 of at most 64 KiB of sealed evidence")
	}
	return nil
}

// state is the consent state a withdrawal or refusal line records.
func (e Entry) state() consent.State {
	if e.Type == TypeRefusal {
		return consent.Refused
	}
	return consent.Withdrawn
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return false
		}
	}
	return true
}

// decodeHash reads a lower-case hex keyed hash of keys.IndexSize bytes.
func decodeHash(field, s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != keys.IndexSize || strings.ToLower(s) != s {
		return nil, decodeErr(field)
	}
	return b, nil
}

// decodeErr is decodeHash's error for field: Invalid invalid_hash, naming no value.
func decodeErr(field string) error {
	return apperr.Invalidf(field, "invalid_hash", "%s: a keyed hash is %d lower-case hex digits", field, 2*keys.IndexSize)
}

func encodeHash(b []byte) string { return hex.EncodeToString(b) }
