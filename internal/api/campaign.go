package api

import (
	"mime"
	"net/http"
	"strconv"

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

// campaignRecipients serves GET /api/v1/campaigns/{id}/recipients?limit=&cursor=: who the
// campaign considered, by contact id, with the outcome; the reason only for roles that may read
// contacts (campaign.Service.Recipients' rule).
func (s *Server) campaignRecipients(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r, "limit", "cursor"); err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > campaign.MaxRecipientsPage {
			return apperr.Invalidf("limit", "invalid_limit", "limit: must be a whole number between 1 and %d", campaign.MaxRecipientsPage)
		}
		limit = n
	}
	cursor := q.Get("cursor")
	if cursor != "" && !validCursor(cursor) {
		return apperr.Invalidf("cursor", "invalid_cursor", "cursor: not a cursor this API returned")
	}
	items, next, err := s.Campaigns.Recipients(r.Context(), pathID(r), cursor, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, List[campaign.Recipient]{Items: items, NextCursor: next})
	return nil
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
