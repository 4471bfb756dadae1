package api

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
)

// AuditEvent is an audit event as the API shows it.
type AuditEvent struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	ActorKind  string    `json:"actor_kind"`
	ActorID    string    `json:"actor_id"`
	ActorRole  string    `json:"actor_role,omitempty"`
	Action     string    `json:"action"`
	ObjectKind string    `json:"object_kind"`
	ObjectID   string    `json:"object_id"`
	Fields     []string  `json:"fields"`
	RequestID  string    `json:"request_id,omitempty"`
	Purpose    string    `json:"purpose,omitempty"`
	PrevHash   string    `json:"prev_hash"` // hex SHA-256
	Hash       string    `json:"hash"`      // hex SHA-256
}

func auditDTO(e audit.Event) AuditEvent {
	f := e.Fields
	if f == nil {
		f = []string{}
	}
	return AuditEvent{
		Seq: e.Seq, At: e.At, ActorKind: e.Actor.Kind, ActorID: e.Actor.ID, ActorRole: e.Actor.Role,
		Action: e.Action, ObjectKind: e.ObjectKind, ObjectID: e.ObjectID, Fields: f,
		RequestID: e.RequestID, Purpose: e.Purpose, PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
}

// jsonTime is an RFC 3339 time in the field occurred_at, whose parse error names the field.
type jsonTime struct{ time.Time }

func (t *jsonTime) UnmarshalJSON(b []byte) error { return parseJSONTime(b, "occurred_at", &t.Time) }

// parseJSONTime reads an RFC 3339 time string into dst; errors are Invalid and name field.
func parseJSONTime(b []byte, field string, dst *time.Time) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return apperr.Invalidf(field, "invalid_time", "%s: must be an RFC 3339 time string", field)
	}
	// RFC 3339 §5.6 allows a lower-case "t" and "z"; Go's parser wants them upper-case.
	v, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return apperr.Invalidf(field, "invalid_time", "%s: must be an RFC 3339 time such as 2026-01-31T12:00:00Z", field)
	}
	*dst = v.UTC()
	if dst.IsZero() {
		return apperr.Invalidf(field, "too_early", "%s: must not be before 1990-01-01", field)
	}
	return nil
}
