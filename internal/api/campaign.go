package api

import (
	"mime"
	"net/http"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/campaign"
)

// CampaignRequest is the body of POST /api/v1/campaigns.
type CampaignRequest struct {
	Kind     string            `json:"kind"`
	Purpose  string            `json:"purpose"`
	Subject  string            `json:"subject"`
	Text     string            `json:"text"`
	HTML     string            `json:"html"`
	Audience campaign.Audience `json:"audience"`
	// IncludeNoHistory (consent_request only; admin or DPO) also asks people with no consent
	// history for the purpose; the answer then carries a warning.
	IncludeNoHistory bool `json:"include_no_history"`
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) error {
	var in CampaignRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	c, err := s.Campaigns.Create(r.Context(), campaign.Campaign{Kind: in.Kind, Purpose: in.Purpose, Subject: in.Subject, Text: in.Text, HTML: in.HTML, Audience: in.Audience,
		IncludeNoHistory: in.IncludeNoHistory})
	if err == nil {
		w.Header().Set("Location", "/api/v1/campaigns/"+c.ID)
	}
	return reply(w, http.StatusCreated, c, err)
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.Campaigns.List(r.Context())
	return reply(w, http.StatusOK, List[campaign.Campaign]{Items: cs}, err)
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Campaigns.Get(r.Context(), pathID(r))
	return reply(w, http.StatusOK, c, err)
}

func (s *Server) sendCampaign(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Campaigns.Send(r.Context(), pathID(r))
	return reply(w, http.StatusAccepted, c, err)
}

// mailReport serves POST /api/v1/mail-reports: the raw bounce (RFC 3464) or complaint (RFC 5965)
// message as the body; every address it names goes on the suppression list.
func (s *Server) mailReport(w http.ResponseWriter, r *http.Request) error {
	// A report is a whole message: message/rfc822 as documented; the report's own type
	// (multipart/report) and a type-less body are read the same. Anything else is 415.
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "", "message/rfc822", "multipart/report", "application/octet-stream":
	default:
		return &statusError{status: http.StatusUnsupportedMediaType, err: apperr.Invalidf("Content-Type", "unsupported_media_type", "Content-Type: send the report as message/rfc822")}
	}
	out, err := s.Reports.Record(r.Context(), http.MaxBytesReader(w, r.Body, 10<<20))
	return reply(w, http.StatusOK, out, err)
}
