package api

import (
	"errors"
	"io"

	"github.com/tillit/tillit/internal/apperr"
)

// readBody reads a request body of at most maxBody bytes.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, apperr.Invalidf("body", "unreadable", "body: could not be read")
	}
	if len(b) > maxBody {
		return nil, &statusError{status: 413, err: apperr.Invalidf("body", "too_large", "body: larger than 1 MiB")}
	}
	return b, nil
}

// statusError is an error answered with a more precise status than its kind gives (405, 413, 415).
type statusError struct {
	status int
	err    *apperr.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func statusOverride(err error) int {
	var me *statusError
	if errors.As(err, &me) {
		return me.status
	}
	return 0
}
