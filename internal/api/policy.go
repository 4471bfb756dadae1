package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
)

// PolicyDraft is the body of POST /api/v1/policies: a new draft version of a document.
type PolicyDraft struct {
	Document string `json:"document"` // privacy_policy, terms_of_service, dpa_template or breach_notice_template
	Body     string `json:"body"`     // Markdown
	Material bool   `json:"material"` // a material change asks for consent again (GDPR Art. 13(3))
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.Policies.List(r.Context())
	return reply(w, http.StatusOK, List[consent.PolicyVersion]{Items: vs}, err)
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Policies.Get(r.Context(), pathID(r))
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) draftPolicy(w http.ResponseWriter, r *http.Request) error {
	var in PolicyDraft
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := s.Policies.Draft(r.Context(), in.Document, in.Body, in.Material)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/policies/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) publishPolicy(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Policies.Publish(r.Context(), pathID(r))
	return reply(w, http.StatusOK, res, err)
}

func (s *Server) approveConsent(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Consent.Approve(r.Context(), pathID(r), strings.ToLower(r.PathValue("event_id")))
	return reply(w, http.StatusOK, e, err)
}

func (s *Server) repermission(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apperr.Invalidf("limit", "invalid_limit", "limit: must be a whole number between 1 and 1000")
		}
		limit = n
	}
	cursor := q.Get("cursor")
	if cursor != "" && !validCursor(cursor) {
		return apperr.Invalidf("cursor", "invalid_cursor", "cursor: not a cursor this API returned")
	}
	items, next, err := s.Consent.Repermission(r.Context(), pathID(r), cursor, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, List[consent.Lapsed]{Items: items, NextCursor: next})
	return nil
}
