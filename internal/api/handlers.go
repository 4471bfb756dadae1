package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/importer"
)

// List is the shape of every list response (DESIGN §5).
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request) error {
	recreate, err := s.recreateErased(r)
	if err != nil {
		return err
	}
	var in contact.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	c, err := s.Contacts.CreateByStaff(r.Context(), in, recreate)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/contacts/"+c.ID)
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// listContacts serves GET /api/v1/contacts: exact lookup with ?email= or ?phone= (the contract's
// form; POST /api/v1/contacts/lookup keeps the identifier out of URLs), or a page with
// ?kind=&limit=&cursor=.
func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r, "email", "phone", "kind", "limit", "cursor"); err != nil {
		return err // ?emial= would page through everyone: audited reads nobody asked for
	}
	q := r.URL.Query()
	if q.Has("email") || q.Has("phone") {
		return s.lookup(w, r, q.Get("email"), q.Get("phone"), q.Has("email"))
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return apperr.Invalidf("limit", "invalid_limit", "limit: must be a whole number between 1 and 500")
		}
		limit = n
	}
	cursor := q.Get("cursor")
	if cursor != "" && !validCursor(cursor) {
		return apperr.Invalidf("cursor", "invalid_cursor", "cursor: not a cursor this API returned")
	}
	items, next, err := s.Contacts.List(r.Context(), contact.Kind(q.Get("kind")), cursor, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, List[contact.Contact]{Items: items, NextCursor: next})
	return nil
}

// LookupRequest is the body of POST /api/v1/contacts/lookup: exactly one of email and phone.
type LookupRequest struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
}

func (s *Server) lookupContacts(w http.ResponseWriter, r *http.Request) error {
	var in LookupRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	return s.lookup(w, r, in.Email, in.Phone, in.Email != "")
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request, email, phone string, byEmail bool) error {
	items := []contact.Contact{}
	if byEmail {
		if phone != "" {
			return apperr.Invalidf("phone", "ambiguous_lookup", "phone: look up by email or by phone, not both")
		}
		c, err := s.Contacts.FindByEmail(r.Context(), email)
		switch {
		case err == nil:
			items = append(items, c)
		case !apperr.Is(err, apperr.NotFound):
			return err
		}
	} else {
		cs, err := s.Contacts.FindByPhone(r.Context(), phone)
		if err != nil {
			return err
		}
		items = append(items, cs...)
	}
	writeJSON(w, http.StatusOK, List[contact.Contact]{Items: items})
	return nil
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Contacts.Get(r.Context(), pathID(r))
	return reply(w, http.StatusOK, c, err)
}

// patchContact serves PATCH /api/v1/contacts/{id} with JSON Merge Patch semantics (RFC 7396):
// an absent member leaves a field as it is, null clears it.
func (s *Server) patchContact(w http.ResponseWriter, r *http.Request) error {
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		return err
	}
	if raw == nil {
		return apperr.Invalidf("body", "not_an_object", "body: a JSON object is required")
	}
	body, _ := json.Marshal(raw)
	p, err := contact.ParseMergePatch(body, "body")
	if err != nil {
		return err
	}
	recreate, err := s.recreateErased(r)
	if err != nil {
		return err
	}
	c, err := s.Contacts.UpdateByStaff(r.Context(), pathID(r), p, recreate)
	return reply(w, http.StatusOK, c, err)
}

// eraseContact serves DELETE /api/v1/contacts/{id}: staff's direct erasure, with its rules
// (legal hold, open requests) checked inside the erasure (dsr.Service.EraseContact).
func (s *Server) eraseContact(w http.ResponseWriter, r *http.Request) error {
	if err := s.Requests.EraseContact(r.Context(), pathID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) convertContact(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Contacts.Convert(r.Context(), pathID(r))
	return reply(w, http.StatusOK, c, err)
}

func (s *Server) getConsents(w http.ResponseWriter, r *http.Request) error {
	l, err := s.Consent.History(r.Context(), pathID(r))
	return reply(w, http.StatusOK, l, err)
}

// ConsentRequest is the body of POST /api/v1/contacts/{id}/consents (DESIGN §5).
type ConsentRequest struct {
	Purpose        string            `json:"purpose"`
	State          consent.State     `json:"state"`
	Method         consent.Method    `json:"method"`
	PolicyVersions map[string]string `json:"policy_versions"`
	Evidence       string            `json:"evidence"`
	IP             string            `json:"ip"`
	UserAgent      string            `json:"user_agent"`
	OccurredAt     *jsonTime         `json:"occurred_at"`
}

func (s *Server) recordConsent(w http.ResponseWriter, r *http.Request) error {
	var in ConsentRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Method == "" {
		in.Method = consent.MethodAPI
	}
	if len(in.Evidence) > 2000 || len(in.UserAgent) > 1000 || len(in.IP) > 64 {
		return apperr.Invalidf("evidence", "too_long", "evidence, user_agent and ip: at most 2000, 1000 and 64 characters")
	}
	e := consent.Event{
		ContactID: pathID(r), Purpose: in.Purpose, State: in.State, Method: in.Method,
		PolicyVersions: in.PolicyVersions,
		Evidence:       consent.Evidence{IP: in.IP, UserAgent: in.UserAgent, Note: in.Evidence},
	}
	if in.OccurredAt != nil {
		e.OccurredAt = in.OccurredAt.Time
	}
	out, err := s.Consent.Record(r.Context(), e)
	return reply(w, http.StatusCreated, out, err)
}

// ConsentCheckRequest is the body of POST /api/v1/consent-checks: contact_id or email, and purpose.
type ConsentCheckRequest struct {
	ContactID string `json:"contact_id"`
	Email     string `json:"email"`
	Purpose   string `json:"purpose"`
}

func (s *Server) consentCheck(w http.ResponseWriter, r *http.Request) error {
	var in ConsentCheckRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Purpose == "" {
		return apperr.Invalidf("purpose", "required", "purpose: required")
	}
	var d consent.Decision
	var err error
	switch {
	case in.ContactID != "" && in.Email != "":
		return apperr.Invalidf("email", "ambiguous", "email: give contact_id or email, not both")
	case in.ContactID != "":
		d, err = s.Consent.Check(r.Context(), strings.ToLower(in.ContactID), in.Purpose)
	case in.Email != "":
		idx, sup, ierr := s.Contacts.EmailHashes(in.Email)
		if ierr != nil {
			return ierr
		}
		d, err = s.Consent.CheckEmailIndex(r.Context(), idx, sup, in.Purpose)
	default:
		return apperr.Invalidf("contact_id", "required", "contact_id: give contact_id or email")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) contactAudit(w http.ResponseWriter, r *http.Request) error {
	return s.auditPage(w, r, "contact", pathID(r))
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("object_id") != "" && q.Get("object_kind") == "" {
		return apperr.Invalidf("object_kind", "required", "object_kind: required with object_id")
	}
	return s.auditPage(w, r, q.Get("object_kind"), q.Get("object_id"))
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, kind, id string) error {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apperr.Invalidf("limit", "invalid_limit", "limit: must be a whole number between 1 and 1000")
		}
		limit = n
	}
	var after int64
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return apperr.Invalidf("cursor", "invalid_cursor", "cursor: not a cursor this API returned")
		}
		after = n
	}
	events, err := s.Audit.AuditEvents(r.Context(), kind, id, after, limit+1)
	if err != nil {
		return err
	}
	next := ""
	if len(events) > limit {
		events = events[:limit]
		next = strconv.FormatInt(events[limit-1].Seq, 10)
	}
	items := make([]AuditEvent, len(events))
	for i, e := range events {
		items[i] = auditDTO(e)
	}
	writeJSON(w, http.StatusOK, List[AuditEvent]{Items: items, NextCursor: next})
	return nil
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Audit.VerifyAudit(r.Context())
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) listPurposes(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Consent.Purposes(r.Context())
	return reply(w, http.StatusOK, List[consent.Purpose]{Items: ps}, err)
}

func (s *Server) getPurpose(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Consent.Purpose(r.Context(), pathID(r))
	return reply(w, http.StatusOK, p, err)
}

func (s *Server) createPurpose(w http.ResponseWriter, r *http.Request) error {
	var p consent.Purpose
	if err := decode(r, &p); err != nil {
		return err
	}
	p, err := s.Consent.CreatePurpose(r.Context(), p)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/purposes/"+p.ID)
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// importOptionNames are the options of an import, as form fields or query parameters.
var importOptionNames = []string{"format", "status", "mapping", "purpose", "kind", "delimiter", "encoding", "name"}

// createImport serves POST /api/v1/imports: a multipart/form-data upload with text fields format
// (mailchimp|generic), and optionally status, mapping, purpose, kind, delimiter, encoding, given
// before the "file" part (or as query parameters); or a text/csv body with the options in the query.
func (s *Server) createImport(w http.ResponseWriter, r *http.Request) error {
	limit := s.MaxImportBytes
	if limit <= 0 {
		limit = 1 << 30
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := onlyParams(r, importOptionNames...); err != nil {
		return err // a misspelled option (purpse=events) would import under the defaults
	}
	q := r.URL.Query()
	opts := map[string]string{}
	for _, k := range importOptionNames {
		if v := q.Get(k); v != "" {
			opts[k] = v
		}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return apperr.Invalidf("body", "bad_multipart", "body: malformed multipart/form-data")
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return apperr.Invalidf("file", "required", "file: a part named \"file\" with the CSV is required")
			}
			if err != nil {
				return apperr.Invalidf("body", "bad_multipart", "body: malformed multipart/form-data")
			}
			if part.FormName() == "file" {
				if opts["name"] == "" {
					opts["name"] = filepath.Base(part.FileName())
				}
				return s.runImport(w, r, part, opts, func() error {
					// Parts after the file cannot change an import already done: say so.
					if _, err := mr.NextPart(); !errors.Is(err, io.EOF) {
						return apperr.Invalidf("file", "parts_after_file", "parts after the file part were not read: send the options before the file (the file was imported with the options before it; see the report)")
					}
					return nil
				})
			}
			name := part.FormName()
			if !slices.Contains(importOptionNames, name) {
				return apperr.Invalidf(name, "unknown_field", "%s: unknown form field (options: %s, then the file part)", name, strings.Join(importOptionNames, ", "))
			}
			b, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				return apperr.Invalidf("body", "bad_multipart", "body: malformed multipart/form-data")
			}
			opts[name] = strings.TrimSpace(string(b))
		}
	case "text/csv", "text/plain", "application/octet-stream":
		return s.runImport(w, r, r.Body, opts, nil)
	default:
		return apperr.Invalidf("Content-Type", "unsupported_media_type", "Content-Type: send multipart/form-data with a \"file\" part, or text/csv")
	}
}

// runImport imports body with the options o; after a complete import, check (when set) may still
// refuse the request, and the report then goes with the problem.
func (s *Server) runImport(w http.ResponseWriter, r *http.Request, body io.Reader, o map[string]string, check func() error) error {
	opt, err := ImportOptions(o)
	if err != nil {
		return err
	}
	rep, err := s.Importer.Import(r.Context(), body, opt)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = apperr.Invalidf("file", "too_large", "file: larger than %d bytes; the rows before the limit were imported", mbe.Limit)
			rep.Stopped = apperr.As(err).Message
		}
		if rep.Stopped != "" {
			s.writeProblemWith(w, r, err, rep)
			return nil
		}
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			s.writeProblemWith(w, r, err, rep)
			return nil
		}
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// importErrors serves GET /api/v1/imports/{id}/errors: every row the import refused, as CSV
// (importer.RefusedCSV), streamed a page at a time. An unknown id is 404 before anything is
// written; a failure after the first bytes aborts the connection, so a cut-off list never
// looks complete.
func (s *Server) importErrors(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r)
	out := &lazyHeader{w: w, header: func(h http.Header) {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="import-errors.csv"`)
	}}
	err := s.Importer.RefusedCSV(r.Context(), id, out)
	if err != nil && out.wrote {
		panic(http.ErrAbortHandler)
	}
	return err
}

// lazyHeader sends the status line and the headers header sets with the first Write, so that a
// handler can still answer a problem when it fails before writing.
type lazyHeader struct {
	w      http.ResponseWriter
	header func(http.Header)
	wrote  bool
}

func (l *lazyHeader) Write(p []byte) (int, error) {
	if !l.wrote {
		l.wrote = true
		l.header(l.w.Header())
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// ImportOptions turns option strings (from a form, a query or CLI flags) into importer.Options.
func ImportOptions(o map[string]string) (importer.Options, error) {
	opt := importer.Options{Format: o["format"], Status: importer.Status(o["status"]), Purpose: o["purpose"], Kind: contact.Kind(o["kind"]), Name: o["name"]}
	if opt.Format == "" {
		return opt, apperr.Invalidf("format", "required", "format: required (mailchimp or generic)")
	}
	if opt.Format != importer.FormatMailchimp && opt.Format != importer.FormatGeneric {
		return opt, apperr.Invalidf("format", "invalid_format", "format: must be mailchimp or generic")
	}
	switch opt.Status {
	case importer.StatusNone, importer.StatusSubscribed, importer.StatusUnsubscribed, importer.StatusCleaned, importer.StatusPending:
	default:
		return opt, apperr.Invalidf("status", "invalid_status", "status: must be subscribed, unsubscribed, cleaned or pending")
	}
	if opt.Kind != "" && opt.Kind != contact.KindLead && opt.Kind != contact.KindContact {
		return opt, apperr.Invalidf("kind", "invalid_kind", "kind: must be lead or contact")
	}
	if m := o["mapping"]; m != "" {
		mp, err := importer.ParseMapping(m)
		if err != nil {
			if apperr.As(err) != nil {
				return opt, err // names the mapping already
			}
			return opt, apperr.Invalidf("mapping", "invalid_mapping", "mapping: %v", err)
		}
		opt.Mapping = mp
	}
	switch d := o["delimiter"]; d {
	case "":
	case ",", ";":
		opt.Dialect.Delimiter = rune(d[0])
	case "tab", "\t", `\t`:
		opt.Dialect.Delimiter = '\t'
	default:
		return opt, apperr.Invalidf("delimiter", "invalid_delimiter", "delimiter: must be ',', ';' or tab")
	}
	switch e := strings.ToLower(o["encoding"]); e {
	case "":
	case "utf-8", "utf8", "windows-1252", "cp1252":
		opt.Dialect.Encoding = e
	default:
		return opt, apperr.Invalidf("encoding", "invalid_encoding", "encoding: must be utf-8 or windows-1252")
	}
	return opt, nil
}

// validCursor reports whether c has the shape of a contact id (a UUID in lower-case hex), the
// only cursors GET /api/v1/contacts hands out.
func validCursor(c string) bool {
	if len(c) != 36 {
		return false
	}
	for i, r := range c {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f'):
			return false
		}
	}
	return true
}

// pathID returns the {id} path value in lower case: ids are lower-case UUIDs and slugs, and an
// upper-case UUID names the same contact.
func pathID(r *http.Request) string { return strings.ToLower(r.PathValue("id")) }

func (s *Server) consentReceipt(w http.ResponseWriter, r *http.Request) error {
	id, eventID := pathID(r), strings.ToLower(r.PathValue("event_id"))
	format := r.URL.Query().Get("format")
	if format != "" && format != "kantara" && format != "iso27560" {
		return apperr.Invalidf("format", "invalid_format", "format: kantara (default) or iso27560")
	}
	l, err := s.Consent.History(r.Context(), id)
	if err != nil {
		return err
	}
	for _, e := range l.Events {
		if e.ID != eventID {
			continue
		}
		p, err := s.Consent.Purpose(r.Context(), e.Purpose)
		if err != nil {
			return err
		}
		var body []byte
		if format == "iso27560" {
			body, err = consent.ISO27560Record(s.Controller, id, p, e)
		} else if e.State != consent.Given || e.Approval == "pending" {
			// A Kantara receipt attests a consent given; other events have their ISO record.
			return &apperr.Error{Kind: apperr.Conflict, Reason: "no_receipt", Field: "format", Message: "a consent receipt is issued for consent given (and approved); use format=iso27560 for the record of this event", ID: e.ID}
		} else {
			body, err = consent.KantaraReceipt(s.Controller, id, p, e)
		}
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
		return nil
	}
	return apperr.New(apperr.NotFound, "consent event not found")
}

// ObjectionRequest is the body of POST /api/v1/contacts/{id}/objections.
type ObjectionRequest struct {
	Scope  string         `json:"scope"` // a purpose id, or "direct_marketing"
	Method consent.Method `json:"method"`
}

func (s *Server) createObjection(w http.ResponseWriter, r *http.Request) error {
	var in ObjectionRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Method == "" {
		in.Method = consent.MethodAPI
	}
	o, err := s.Consent.Object(r.Context(), pathID(r), in.Scope, in.Method)
	return reply(w, http.StatusCreated, o, err)
}

func (s *Server) liftObjection(w http.ResponseWriter, r *http.Request) error {
	if err := s.Consent.LiftObjection(r.Context(), pathID(r), r.PathValue("scope")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) restrict(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Contacts.SetRestricted(r.Context(), pathID(r), true)
	return reply(w, http.StatusOK, c, err)
}

func (s *Server) liftRestriction(w http.ResponseWriter, r *http.Request) error {
	if s.Requests != nil { // tells the person first (GDPR Art. 18(3))
		c, err := s.Requests.LiftRestriction(r.Context(), pathID(r))
		return reply(w, http.StatusOK, c, err)
	}
	c, err := s.Contacts.SetRestricted(r.Context(), pathID(r), false)
	return reply(w, http.StatusOK, c, err)
}

// onlyParams refuses a query parameter the route does not take (Invalid, naming it), so a typo
// is an error rather than a request carried out without it.
func onlyParams(r *http.Request, names ...string) error {
	for k := range r.URL.Query() {
		if !slices.Contains(names, k) {
			field := k
			if !plainParam(k) {
				field = "query" // a pasted address is not echoed
			}
			if len(names) == 0 {
				return apperr.Invalidf(field, "unknown_parameter", "%s: this route takes no query parameters", field)
			}
			return apperr.Invalidf(field, "unknown_parameter", "%s: unknown query parameter (this route takes %s)", field, strings.Join(names, ", "))
		}
	}
	return nil
}

// plainParam reports whether a parameter name is a plain identifier (safe to repeat back).
func plainParam(k string) bool {
	if k == "" || len(k) > 40 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// recreateErased reads ?recreate_erased=true: using again an address erased at its person's
// request, on that person's own new request. Who may (a role that may erase) is the contact
// service's rule (contact.Service.CreateByStaff).
func (s *Server) recreateErased(r *http.Request) (bool, error) {
	if err := onlyParams(r, "recreate_erased"); err != nil {
		return false, err
	}
	v, err := boolParam(r.URL.Query().Get("recreate_erased"), "recreate_erased")
	if err != nil || v != "true" {
		return false, err
	}
	// The rule reads only the actor, so it answers before the body is read, as it did before
	// it moved into the service (which still applies it in its transaction).
	return true, contact.MayRecreateErased(r.Context())
}
