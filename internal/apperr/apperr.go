package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers and surfaces.
type Kind int

// The kinds of error. The zero Kind is Internal.
const (
	Internal        Kind = iota // a bug or a broken dependency; never shown to clients
	Invalid                     // the input is wrong; Field says where
	NotFound                    // the thing named does not exist (or is not visible to the caller)
	Conflict                    // the request clashes with stored state (a duplicate, a stale version)
	Unauthenticated             // no or bad credentials
	Forbidden                   // credentials fine, action not allowed for this role
	Unavailable                 // a dependency is down or the server is shutting down; retry later
)

var kindNames = [...]string{"internal", "invalid", "not_found", "conflict", "unauthenticated", "forbidden", "unavailable"}

// String returns the kind's stable lower-case name, as used in problem+json "code" members.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "internal"
}

// Error is an error with a kind and a client-safe message.
//
// Message must never contain personal data (no e-mail addresses, names, phone numbers): name the
// field, column or line instead. Field is the JSON field or CSV column the error is about, if any.
// Reason is a short machine-readable code (for example "invalid_email", "duplicate_email").
// ID carries the id of an existing object on Conflict (for example the existing contact's id).
type Error struct {
	Kind    Kind
	Field   string
	Reason  string
	Message string
	ID      string
	Err     error // wrapped cause; never shown to clients
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the wrapped cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error of kind k with a formatted, client-safe message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns an Invalid error about field, with a machine-readable reason and a message.
func Invalidf(field, reason, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the first *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Is reports whether err's chain holds an *Error of kind k.
func Is(err error, k Kind) bool {
	e := As(err)
	return e != nil && e.Kind == k
}
