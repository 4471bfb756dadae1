package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/jsonin"
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
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		return err
	}
	body, _ := json.Marshal(raw)
	var in share.Input
	if err := jsonin.Decode(body, &in); err != nil {
		return err
	}
	for k, v := range raw {
		if string(v) == "null" {
			in.Clear = append(in.Clear, k)
		}
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
	in.Fields = slices.Compact(slices.Sorted(slices.Values(in.Fields))) // as Disclose records them
	data, err := s.Share.Disclose(r.Context(), in)
	return reply(w, http.StatusCreated, DisclosureResult{Request: in, Data: data}, err)
}

// processorDeliveries serves the delivery log: ?kind=, ?limit= (1–500, default 100), ?cursor=.
func (s *Server) processorDeliveries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return apperr.Invalidf("limit", "invalid_limit", "limit: a whole number from 1 to 500")
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" && !validCursor(c) {
		return apperr.Invalidf("cursor", "invalid_cursor", "cursor: not a cursor this API returned")
	}
	if k := q.Get("kind"); k != "" && !slices.Contains(share.EventKinds, k) {
		return apperr.Invalidf("kind", "invalid_kind", "kind: one of %s", strings.Join(share.EventKinds, ", "))
	}
	ds, next, err := s.Webhooks.Log(r.Context(), pathID(r), q.Get("kind"), q.Get("cursor"), limit)
	return reply(w, http.StatusOK, List[share.Delivery]{Items: ds, NextCursor: next}, err)
}

// acknowledge serves POST /webhooks/acknowledgements: a processor confirms it erased the
// person an "erased" event named, signed with its webhook secret (no bearer token: the
// signature is the proof).
func (s *Server) acknowledge(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(http.MaxBytesReader(w, r.Body, 4<<10))
	if err == nil {
		err = s.Webhooks.Acknowledge(r.Context(), r.Header.Get(share.SignatureHeader), body)
	}
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readShared serves GET /api/v1/shared/contacts/{id} to a processor-scoped token.
func (s *Server) readShared(w http.ResponseWriter, r *http.Request) error {
	pid, _ := r.Context().Value(processorKey).(string)
	data, err := s.Share.ReadShared(r.Context(), pid, pathID(r))
	return reply(w, http.StatusOK, data, err)
}

// ropa serves GET /api/v1/ropa: the record of processing activities (GDPR Art. 30) as JSON, or
// as CSV with ?format=csv.
func (s *Server) ropa(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return apperr.Invalidf("format", "invalid_format", "format: json or csv")
	}
	rec, err := s.ROPA(r.Context())
	if err != nil {
		return err
	}
	if format != "csv" {
		return reply(w, http.StatusOK, rec, nil)
	}
	b, err := rec.CSV()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ropa.csv"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

func (s *Server) listBreaches(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.Breaches.List(r.Context())
	return reply(w, http.StatusOK, List[governance.Breach]{Items: bs}, err)
}

func (s *Server) getBreach(w http.ResponseWriter, r *http.Request) error {
	b, err := s.Breaches.Get(r.Context(), pathID(r))
	return reply(w, http.StatusOK, b, err)
}

func (s *Server) createBreach(w http.ResponseWriter, r *http.Request) error {
	var in governance.BreachInput
	if err := decode(r, &in); err != nil {
		return err
	}
	b, err := s.Breaches.Create(r.Context(), in)
	if err == nil {
		w.Header().Set("Location", "/api/v1/breaches/"+b.ID)
	}
	return reply(w, http.StatusCreated, b, err)
}

func (s *Server) patchBreach(w http.ResponseWriter, r *http.Request) error {
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		return err
	}
	body, _ := json.Marshal(raw)
	var in governance.BreachInput
	if err := jsonin.Decode(body, &in); err != nil {
		return err
	}
	for k, v := range raw {
		if string(v) == "null" {
			in.Clear = append(in.Clear, k)
		}
	}
	b, err := s.Breaches.Update(r.Context(), pathID(r), in)
	return reply(w, http.StatusOK, b, err)
}

// breachNotice serves the drafted communication to the people affected (GDPR Art. 34(2)) as
// text: from the published breach_notice_template, or the built-in text.
func (s *Server) breachNotice(w http.ResponseWriter, r *http.Request) error {
	b, err := s.Breaches.Get(r.Context(), pathID(r))
	if err != nil {
		return err
	}
	notice, err := s.Breaches.Notice(r.Context(), b)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write([]byte(notice))
	return err
}

func (s *Server) listRetentionPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Retention.Policies(r.Context())
	return reply(w, http.StatusOK, List[governance.Policy]{Items: ps}, err)
}

func (s *Server) createRetentionPolicy(w http.ResponseWriter, r *http.Request) error {
	var in governance.Policy
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := s.Retention.CreatePolicy(r.Context(), in)
	return reply(w, http.StatusCreated, p, err)
}

func (s *Server) deleteRetentionPolicy(w http.ResponseWriter, r *http.Request) error {
	if err := s.Retention.DeletePolicy(r.Context(), pathID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sweep serves POST /api/v1/retention/sweep (?dry_run=true lists without erasing).
func (s *Server) sweep(w http.ResponseWriter, r *http.Request) error {
	// A destructive route: a misspelled dry run must not run a real sweep.
	for k := range r.URL.Query() {
		if k != "dry_run" {
			return apperr.Invalidf(k, "unknown_parameter", "%s: unknown parameter (only dry_run=true or false)", k)
		}
	}
	if r.ContentLength > 0 {
		return apperr.Invalidf("body", "unexpected_body", "body: the sweep takes no body; use ?dry_run=true")
	}
	dry := false
	if vs, ok := r.URL.Query()["dry_run"]; ok {
		// ?dry_run, ?dry_run= and a doubled dry_run are refused, not read as false.
		if len(vs) != 1 || vs[0] != "true" && vs[0] != "false" {
			return apperr.Invalidf("dry_run", "invalid_boolean", "dry_run: once, true or false")
		}
		dry = vs[0] == "true"
	}
	res, err := s.Retention.Sweep(r.Context(), dry)
	return reply(w, http.StatusOK, res, err)
}

// LegalHoldState is the answer of GET /api/v1/contacts/{id}/legal-hold.
type LegalHoldState struct {
	LegalHold bool `json:"legal_hold"`
}

func (s *Server) getLegalHold(w http.ResponseWriter, r *http.Request) error {
	on, err := s.Retention.LegalHold(r.Context(), pathID(r))
	return reply(w, http.StatusOK, LegalHoldState{LegalHold: on}, err)
}

func (s *Server) legalHold(on bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.Retention.SetLegalHold(r.Context(), pathID(r), on); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// DPARequestInput is the body of POST /api/v1/dpa-requests.
type DPARequestInput struct {
	Customer string `json:"customer"`
}

// DPAStatusInput is the body of PATCH /api/v1/dpa-requests/{id}.
type DPAStatusInput struct {
	Status   string     `json:"status"`
	SignedAt *time.Time `json:"signed_at"`
}

func (s *Server) createDPARequest(w http.ResponseWriter, r *http.Request) error {
	var in DPARequestInput
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := s.DPAs.Request(r.Context(), in.Customer)
	if err == nil {
		w.Header().Set("Location", "/api/v1/dpa-requests/"+d.ID)
	}
	return reply(w, http.StatusCreated, d, err)
}

func (s *Server) listDPARequests(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.DPAs.List(r.Context())
	return reply(w, http.StatusOK, List[governance.DPARequest]{Items: ds}, err)
}

func (s *Server) getDPARequest(w http.ResponseWriter, r *http.Request) error {
	d, err := s.DPAs.Get(r.Context(), pathID(r))
	return reply(w, http.StatusOK, d, err)
}

func (s *Server) patchDPARequest(w http.ResponseWriter, r *http.Request) error {
	var in DPAStatusInput
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := s.DPAs.SetStatus(r.Context(), pathID(r), in.Status, in.SignedAt)
	return reply(w, http.StatusOK, d, err)
}

// dpaDocument serves the rendered agreement: ?format=html (default), pdf or md.
func (s *Server) dpaDocument(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "html"
	}
	if format != "html" && format != "pdf" && format != "md" {
		return apperr.Invalidf("format", "invalid_format", "format: html, pdf or md")
	}
	md, err := s.DPAs.Document(r.Context(), pathID(r))
	if err != nil {
		return err
	}
	title := "Data processing agreement"
	var body []byte
	switch format {
	case "md":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		body = []byte(md)
	case "pdf":
		if body, err = governance.PDF(title, md); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="dpa.pdf"`)
	default:
		if body, err = governance.HTML(title, md); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "+FrameAncestorsNone)
	}
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

// endProcessor serves DELETE /api/v1/processors/{id}: the engagement ends; the processor is kept
// for the record.
func (s *Server) endProcessor(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Share.End(r.Context(), pathID(r))
	return reply(w, http.StatusOK, p, err)
}

// TaskDoneInput is the body of POST /api/v1/notification-tasks/{id}/done: how and when the
// recipient was told (required; never the person's data).
type TaskDoneInput struct {
	Note string `json:"note"`
}

// listNotificationTasks serves GET /api/v1/notification-tasks: the to-dos to tell recipients by
// hand (GDPR Art. 19), oldest first; ?state=open|done, ?processor_id=, ?contact_id=, ?limit=
// (1–500, default 100), ?cursor=.
func (s *Server) listNotificationTasks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := share.TaskFilter{State: q.Get("state"), ProcessorID: q.Get("processor_id"), ContactID: strings.ToLower(q.Get("contact_id")), After: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return apperr.Invalidf("limit", "invalid_limit", "limit: a whole number from 1 to 500")
		}
		f.Limit = n
	}
	if f.After != "" && !validCursor(f.After) {
		return apperr.Invalidf("cursor", "invalid_cursor", "cursor: not a cursor this API returned")
	}
	ts, next, err := s.Webhooks.Tasks(r.Context(), f)
	return reply(w, http.StatusOK, List[share.NotificationTask]{Items: ts, NextCursor: next}, err)
}

// notificationTaskDone serves POST /api/v1/notification-tasks/{id}/done.
func (s *Server) notificationTaskDone(w http.ResponseWriter, r *http.Request) error {
	var in TaskDoneInput
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := s.Webhooks.TaskDone(r.Context(), pathID(r), in.Note)
	return reply(w, http.StatusOK, t, err)
}
