package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
)

// RequestInput is the body of POST /api/v1/requests.
type RequestInput struct {
	Type          dsr.Type    `json:"type"`
	Channel       dsr.Channel `json:"channel"`
	Email         string      `json:"email"`
	Details       string      `json:"details"`
	ReceivedAt    *receivedAt `json:"received_at"`
	VerifyByEmail bool        `json:"verify_by_email"`
}

// receivedAt is an RFC 3339 time in the field received_at.
type receivedAt struct{ time.Time }

func (t *receivedAt) UnmarshalJSON(b []byte) error { return parseJSONTime(b, "received_at", &t.Time) }

// RequestPatch is the body of PATCH /api/v1/requests/{id}: the assignee ("" unassigns).
type RequestPatch struct {
	Assignee *string `json:"assignee"`
}

// VerifyInput is the body of POST /api/v1/requests/{id}/verify: either the contact whose identity
// staff verified and how (contact_id, note), or send_link to mail the requester a new
// verification link.
type VerifyInput struct {
	ContactID string `json:"contact_id"`
	Note      string `json:"note"`
	SendLink  bool   `json:"send_link"`
	// ConfirmOtherAddress binds the request to a contact whose address on file is not the
	// request's; only roles with contacts.restrict (admin, dpo) may.
	ConfirmOtherAddress bool `json:"confirm_other_address"`
}

// ExtendInput is the body of POST /api/v1/requests/{id}/extend.
type ExtendInput struct {
	Months int    `json:"months"`
	Reason string `json:"reason"`
}

// CloseInput is the body of POST /api/v1/requests/{id}/reject (reason).
type CloseInput struct {
	Reason string `json:"reason"`
}

// CompleteInput is the body of POST /api/v1/requests/{id}/complete, optional: an internal note,
// and by type the corrections of a rectification (a JSON Merge Patch of the contact, RFC 7396),
// the purposes of a withdraw_consent (default every purpose given), the scope of an objection
// (default direct_marketing).
type CompleteInput struct {
	Note     string                     `json:"note"`
	Changes  map[string]json.RawMessage `json:"changes"`
	Purposes []string                   `json:"purposes"`
	Scope    string                     `json:"scope"`
}

// NoteInput is the body of POST /api/v1/requests/{id}/notes.
type NoteInput struct {
	Note string `json:"note"`
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) error {
	var in RequestInput
	if err := decode(r, &in); err != nil {
		return err
	}
	di := dsr.Input{Type: in.Type, Channel: in.Channel, Email: in.Email, Details: in.Details, VerifyByEmail: in.VerifyByEmail}
	if in.ReceivedAt != nil {
		di.ReceivedAt = &in.ReceivedAt.Time
	}
	v, err := s.Requests.Create(r.Context(), di)
	if err == nil {
		w.Header().Set("Location", "/api/v1/requests/"+v.ID)
	}
	return reply(w, http.StatusCreated, v, err)
}

// listRequests serves the staff queue: filters state, type, assignee, open=true, overdue=true
// (open and past their deadline) and due_within_days=N (open and due within N days, overdue
// included), with limit and cursor.
func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := dsr.Filter{State: dsr.State(q.Get("state")), Type: dsr.Type(q.Get("type")), Assignee: q.Get("assignee")}
	open, err := boolParam(q.Get("open"), "open")
	if err != nil {
		return err
	}
	overdue, err := boolParam(q.Get("overdue"), "overdue")
	if err != nil {
		return err
	}
	now := s.Requests.Now().UTC()
	f.Open, f.Closed = open == "true", open == "false"
	switch overdue {
	case "true":
		f.DueBy = now
	case "false":
		f.NotOverdueAt = now
	}
	if v := q.Get("due_within_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 366 {
			return apperr.Invalidf("due_within_days", "invalid_days", "due_within_days: a whole number of days from 0 to 366")
		}
		if overdue != "true" {
			f.DueBy = now.AddDate(0, 0, n)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return apperr.Invalidf("limit", "invalid_limit", "limit: must be a whole number between 1 and 500")
		}
		f.Limit = n
	}
	if f.After = q.Get("cursor"); f.After != "" && !validCursor(f.After) {
		return apperr.Invalidf("cursor", "invalid_cursor", "cursor: not a cursor this API returned")
	}
	items, next, err := s.Requests.List(r.Context(), f)
	if err != nil {
		return err
	}
	if items == nil {
		items = []dsr.View{}
	}
	writeJSON(w, http.StatusOK, List[dsr.View]{Items: items, NextCursor: next})
	return nil
}

// boolParam checks a true/false query parameter and returns it ("" when absent).
func boolParam(v, name string) (string, error) {
	switch v {
	case "", "false", "true":
		return v, nil
	}
	return "", apperr.Invalidf(name, "invalid_boolean", "%s: true or false", name)
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Requests.Get(r.Context(), pathID(r))
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) patchRequest(w http.ResponseWriter, r *http.Request) error {
	var in RequestPatch
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Assignee == nil {
		return apperr.Invalidf("assignee", "required", "assignee: the only field a request takes by PATCH; transitions have their own routes")
	}
	v, err := s.Requests.Assign(r.Context(), pathID(r), *in.Assignee)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) requestTimeline(w http.ResponseWriter, r *http.Request) error {
	items, err := s.Requests.Timeline(r.Context(), pathID(r))
	return reply(w, http.StatusOK, List[dsr.Entry]{Items: items}, err)
}

func (s *Server) verifyRequest(w http.ResponseWriter, r *http.Request) error {
	var in VerifyInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.SendLink {
		if in.ContactID != "" || in.Note != "" {
			return apperr.Invalidf("send_link", "either", "send_link: either send a link or give contact_id and note, not both")
		}
		v, err := s.Requests.SendLink(r.Context(), pathID(r))
		return reply(w, http.StatusOK, v, err)
	}
	if in.ConfirmOtherAddress {
		v, err := s.Requests.VerifyOtherAddress(r.Context(), pathID(r), in.ContactID, in.Note)
		return reply(w, http.StatusOK, v, err)
	}
	v, err := s.Requests.Verify(r.Context(), pathID(r), in.ContactID, in.Note)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) extendRequest(w http.ResponseWriter, r *http.Request) error {
	var in ExtendInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := s.Requests.Extend(r.Context(), pathID(r), in.Months, in.Reason)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) rejectRequest(w http.ResponseWriter, r *http.Request) error {
	var in CloseInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := s.Requests.Reject(r.Context(), pathID(r), in.Reason)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) completeRequest(w http.ResponseWriter, r *http.Request) error {
	var in CompleteInput
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	c := dsr.Completion{Note: in.Note, Purposes: in.Purposes, Scope: in.Scope}
	if in.Changes != nil {
		body, _ := json.Marshal(in.Changes)
		p, err := contact.ParseMergePatch(body, "changes")
		if err != nil {
			return err
		}
		c.Changes = &p
	}
	v, err := s.Requests.Complete(r.Context(), pathID(r), c)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) requestReceipt(w http.ResponseWriter, r *http.Request) error {
	rc, err := s.Requests.Receipt(r.Context(), pathID(r))
	return reply(w, http.StatusOK, rc, err)
}

// exportContact serves the access bundle as a zip download (GDPR Art. 15, 20); the bundle holds
// audit events, so it is for roles that also read the audit log (dsr.Service.Export's rule).
func (s *Server) exportContact(w http.ResponseWriter, r *http.Request) error {
	zip, err := s.Requests.Export(r.Context(), pathID(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="personal-data.zip"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(zip)
	return err
}

func (s *Server) noteRequest(w http.ResponseWriter, r *http.Request) error {
	var in NoteInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := s.Requests.AddNote(r.Context(), pathID(r), in.Note)
	return reply(w, http.StatusCreated, v, err)
}
