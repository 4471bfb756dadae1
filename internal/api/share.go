package api

import (
	"net/http"

	"github.com/tillit/tillit/internal/share"
)

// DisclosureResult is the answer to an allowed disclosure: the request and the disclosed data
// (the contact's id and the asked fields, by their API names).
type DisclosureResult struct {
	share.Request
	Data map[string]any `json:"data"`
}

func (s *Server) listProcessors(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Share.List(r.Context())
	return reply(w, http.StatusOK, List[share.Processor]{Items: ps}, err)
}

func (s *Server) getProcessor(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Share.Get(r.Context(), pathID(r))
	return reply(w, http.StatusOK, p, err)
}

func (s *Server) createProcessor(w http.ResponseWriter, r *http.Request) error {
	var in share.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := s.Share.Create(r.Context(), in)
	if err == nil {
		w.Header().Set("Location", "/api/v1/processors/"+p.ID)
	}
	return reply(w, http.StatusCreated, p, err)
}

func (s *Server) patchProcessor(w http.ResponseWriter, r *http.Request) error {
	var in share.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := s.Share.Update(r.Context(), pathID(r), in)
	return reply(w, http.StatusOK, p, err)
}

// disclose serves POST /api/v1/disclosures: 201 with the data, or 403 problem+json whose reason
// says which condition failed.
func (s *Server) disclose(w http.ResponseWriter, r *http.Request) error {
	var in share.Request
	if err := decode(r, &in); err != nil {
		return err
	}
	data, err := s.Share.Disclose(r.Context(), in)
	return reply(w, http.StatusCreated, DisclosureResult{Request: in, Data: data}, err)
}
