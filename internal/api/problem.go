package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
)

// Problem is an RFC 9457 problem details object with Tillit's extension members.
type Problem struct {
	Type     string `json:"type"`               // "about:blank": the status code says it all (RFC 9457 §4.2.1)
	Title    string `json:"title"`              // the status code's text
	Status   int    `json:"status"`             // the HTTP status code
	Detail   string `json:"detail,omitempty"`   // client-safe explanation; never personal data
	Instance string `json:"instance,omitempty"` // the request id, as "urn:tillit:request:<id>"
	Code     string `json:"code"`               // apperr kind: invalid, not_found, conflict, …
	Field    string `json:"field,omitempty"`    // the JSON field or query parameter at fault
	Reason   string `json:"reason,omitempty"`   // machine-readable reason, such as "duplicate_email"
	ID       string `json:"id,omitempty"`       // on a conflict: the id of the existing object
	Report   any    `json:"report,omitempty"`   // an import that stopped part-way: what it stored
}

func statusOf(k apperr.Kind) int {
	switch k {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeProblem is the one place where errors become HTTP responses.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	s.writeProblemWith(w, r, err, nil)
}

// writeProblemWith is writeProblem with the report of an import that stopped part-way.
func (s *Server) writeProblemWith(w http.ResponseWriter, r *http.Request, err error, report any) {
	p := Problem{Type: "about:blank", Code: apperr.Internal.String(), Report: report}
	if e := apperr.As(err); e != nil && e.Kind != apperr.Internal {
		p.Code, p.Detail, p.Field, p.Reason, p.ID = e.Kind.String(), e.Message, e.Field, e.Reason, e.ID
		p.Status = statusOf(e.Kind)
		if st := statusOverride(err); st != 0 {
			p.Status = st
		}
	} else {
		p.Status = http.StatusInternalServerError
		p.Detail = "internal error; the request id identifies it in the server log"
		if !errors.Is(err, r.Context().Err()) {
			s.Logger.ErrorContext(r.Context(), "request failed", slog.String("request_id", requestID(r)), slog.String("route", r.Pattern), slog.Any("error", err))
		}
	}
	p.Title = http.StatusText(p.Status)
	if id := requestID(r); id != "" {
		p.Instance = "urn:tillit:request:" + id
	}
	if p.Status == http.StatusUnauthorized && !strings.HasPrefix(r.URL.Path, "/webhooks/") {
		// Webhook acknowledgements authenticate by their signature, not by a bearer token.
		w.Header().Set("WWW-Authenticate", `Bearer realm="tillit"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
