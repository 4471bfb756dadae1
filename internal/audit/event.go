package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"time"
)

// HashSize is the size of an event hash in bytes (SHA-256).
const HashSize = sha256.Size

// Actor kinds.
const (
	ActorToken  = "token"  // an API token; ID is the token id
	ActorCLI    = "cli"    // a local command; ID is the command name
	ActorSystem = "system" // Tillit itself (migrations, first start, jobs)
	ActorPublic = "public" // an unauthenticated visitor of a public page
)

// Actor is who performed an action.
type Actor struct {
	Kind string // one of the Actor* constants
	ID   string // token id, command name, job name; never a person's name or address
	Role string // the token's role, when Kind is ActorToken
}

// Event is one audit log entry. Seq, PrevHash and Hash are set by the store when it appends.
type Event struct {
	Seq        int64
	At         time.Time // UTC
	Actor      Actor
	Action     string   // dotted verb, for example "contact.read", "contact.create", "consent.record"
	ObjectKind string   // "contact", "purpose", "token", "import", …
	ObjectID   string   // the object's id
	Fields     []string // names of the fields read or written; never their values
	RequestID  string
	Purpose    string // purpose id, when the action is for one
	PrevHash   []byte
	Hash       []byte
}

// ComputeHash returns SHA-256 over the event's members (Seq, At in nanoseconds, actor, action,
// object, fields, request id, purpose), each length-prefixed, followed by prev.
func (e *Event) ComputeHash(prev []byte) []byte {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.At.UTC().UnixNano()))
	h.Write(n[:])
	put(e.Actor.Kind)
	put(e.Actor.ID)
	put(e.Actor.Role)
	put(e.Action)
	put(e.ObjectKind)
	put(e.ObjectID)
	put(strings.Join(e.Fields, ","))
	put(e.RequestID)
	put(e.Purpose)
	h.Write(prev)
	return h.Sum(nil)
}

// Genesis is the PrevHash of event 1.
var genesis [HashSize]byte

// Genesis returns the previous hash of the first event: 32 zero bytes.
func Genesis() []byte { return genesis[:] }

type ctxKey int

const (
	actorKey ctxKey = iota
	requestIDKey
)

// WithActor returns a context that carries the actor for audit events.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFrom returns the context's actor, or the system actor when none was set.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey).(Actor); ok {
		return a
	}
	return Actor{Kind: ActorSystem, ID: "tillit"}
}

// WithRequestID returns a context that carries the request id for audit events.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFrom returns the context's request id, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// New returns an event for action on an object, stamped with the context's actor and request id.
func New(ctx context.Context, at time.Time, action, objectKind, objectID string, fields ...string) Event {
	return Event{
		At: at.UTC(), Actor: ActorFrom(ctx), Action: action,
		ObjectKind: objectKind, ObjectID: objectID, Fields: fields, RequestID: RequestIDFrom(ctx),
	}
}
