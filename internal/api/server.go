package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/jsonin"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/token"
)

// AuditLog reads the audit log (it decrypts nothing).
type AuditLog interface {
	AuditEvents(ctx context.Context, objectKind, objectID string, afterSeq int64, limit int) ([]audit.Event, error)
	VerifyAudit(ctx context.Context) (audit.Verification, error)
}

// Server holds the services the API serves. Fields are set once by internal/app.
type Server struct {
	Contacts *contact.Service
	Consent  *consent.Service
	Policies *consent.Policies
	// Campaigns, when set, serves /api/v1/campaigns; Reports /api/v1/mail-reports.
	Campaigns *campaign.Service
	Reports   *mail.Reports
	Tokens    *token.Service
	// Requests, when set, serves /api/v1/requests (data subject requests).
	Requests *dsr.Service
	// Share, when set, serves /api/v1/processors and /api/v1/disclosures; Webhooks their
	// delivery log and erasure acknowledgements.
	Share    *share.Service
	Webhooks *share.Webhooks
	// Breaches, when set, serves /api/v1/breaches.
	Breaches *governance.Breaches
	// Retention, when set, serves the retention policies, the sweep and legal holds.
	Retention *governance.Retention
	// DPAs, when set, serves /api/v1/dpa-requests.
	DPAs     *governance.DPAs
	Importer *importer.Importer
	Audit    AuditLog
	// Controller identifies the data controller in consent receipts.
	Controller consent.Controller
	// Pages are the public portal's HTML pages by route pattern ("GET /p/privacy"); they are
	// not API routes and not in the OpenAPI document.
	Pages  map[string]http.Handler
	Logger *slog.Logger
	// MaxImportBytes bounds an uploaded import file (default 1 GiB).
	MaxImportBytes int64
	// ROPA returns the record of processing activities (GDPR Art. 30) as of now, served by
	// GET /api/v1/ropa (internal/app builds it: App.ROPA).
	ROPA func(ctx context.Context) (governance.ROPA, error)
	// Ready, when set, answers GET /readyz: whether the store takes writes and the audit chain
	// can be appended, and if not a reason code ("store_unavailable", "audit_head_mismatch").
	Ready func(ctx context.Context) (ready bool, reason string)
	// BodyTimeout and BodyMinRate pace every request body: it may take BodyTimeout (default
	// DefaultBodyTimeout) plus one second per BodyMinRate bytes received (default
	// DefaultBodyMinRate, bytes per second), counting only time spent waiting for the client;
	// a slower client's connection is closed (paceBodies).
	BodyTimeout time.Duration
	BodyMinRate int64
	// Observe, when set, is told of every answered request: the route pattern that took it
	// ("GET /api/v1/contacts/{id}"; "" when none did: never the path, which may hold personal
	// data), the status written (0: none, which is 200) and the time it took. The metrics of
	// internal/app count them. It must not block.
	Observe func(route string, status int, elapsed time.Duration)
}

// Handler returns the HTTP handler for every route, with the security headers of every answer
// (secure) and paced request bodies (paceBodies). A path parameter or query value that is not
// UTF-8 or holds U+0000 is refused (400) before any route's handler runs (checkText).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"}) // liveness: the process answers
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.Ready != nil {
			if ok, reason := s.Ready(r.Context()); !ok {
				w.Header().Set("Retry-After", "5")
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /.well-known/gpc.json", func(w http.ResponseWriter, r *http.Request) {
		// Global Privacy Control §3.1: the site states that it honours the signal.
		writeJSON(w, http.StatusOK, map[string]any{"gpc": true, "lastUpdate": "2026-11-29"})
	})
	mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(OpenAPI)
	})
	for pattern, h := range s.Pages {
		mux.Handle(pattern, h)
	}
	route := func(pattern string, perm token.Permission, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.authorize(perm, h))
	}
	route("POST /api/v1/contacts", token.ContactsWrite, s.createContact)
	route("GET /api/v1/contacts", token.ContactsRead, s.listContacts)
	route("POST /api/v1/contacts/lookup", token.ContactsRead, s.lookupContacts)
	route("GET /api/v1/contacts/{id}", token.ContactsRead, s.getContact)
	route("PATCH /api/v1/contacts/{id}", token.ContactsWrite, s.patchContact)
	route("DELETE /api/v1/contacts/{id}", token.ContactsErase, s.eraseContact)
	route("POST /api/v1/contacts/{id}/convert", token.ContactsWrite, s.convertContact)
	route("GET /api/v1/contacts/{id}/consents", token.ConsentsRead, s.getConsents)
	route("POST /api/v1/contacts/{id}/consents", token.ConsentsWrite, s.recordConsent)
	route("GET /api/v1/contacts/{id}/audit", token.AuditRead, s.contactAudit)
	route("POST /api/v1/consent-checks", token.ConsentsCheck, s.consentCheck)
	route("GET /api/v1/contacts/{id}/consents/{event_id}/receipt", token.ConsentsRead, s.consentReceipt)
	route("POST /api/v1/contacts/{id}/objections", token.ConsentsWrite, s.createObjection)
	route("POST /api/v1/contacts/{id}/consents/{event_id}/approve", token.ConsentsWrite, s.approveConsent)
	route("GET /api/v1/purposes/{id}/repermission", token.ConsentsRead, s.repermission)
	if s.Campaigns != nil {
		route("POST /api/v1/campaigns", token.CampaignsWrite, s.createCampaign)
		route("GET /api/v1/campaigns", token.CampaignsRead, s.listCampaigns)
		route("GET /api/v1/campaigns/{id}", token.CampaignsRead, s.getCampaign)
		route("POST /api/v1/campaigns/{id}/send", token.CampaignsWrite, s.sendCampaign)
		route("GET /api/v1/campaigns/{id}/recipients", token.CampaignRecipients, s.campaignRecipients)
		route("POST /api/v1/mail-reports", token.CampaignsWrite, s.mailReport)
	}
	if s.Requests != nil {
		route("POST /api/v1/requests", token.RequestsWrite, s.createRequest)
		route("GET /api/v1/requests", token.RequestsRead, s.listRequests)
		route("GET /api/v1/requests/{id}", token.RequestsRead, s.getRequest)
		route("PATCH /api/v1/requests/{id}", token.RequestsWrite, s.patchRequest)
		route("GET /api/v1/requests/{id}/timeline", token.RequestsRead, s.requestTimeline)
		route("POST /api/v1/requests/{id}/notes", token.RequestsWrite, s.noteRequest)
		route("POST /api/v1/requests/{id}/verify", token.RequestsWrite, s.verifyRequest)
		route("POST /api/v1/requests/{id}/extend", token.RequestsWrite, s.extendRequest)
		route("POST /api/v1/requests/{id}/complete", token.RequestsWrite, s.completeRequest)
		route("POST /api/v1/requests/{id}/reject", token.RequestsWrite, s.rejectRequest)
		route("GET /api/v1/requests/{id}/receipt", token.RequestsRead, s.requestReceipt)
		route("GET /api/v1/contacts/{id}/export", token.ContactsRead, s.exportContact)
	}
	if s.Share != nil {
		route("GET /api/v1/processors", token.ProcessorsRead, s.listProcessors)
		route("POST /api/v1/processors", token.ProcessorsWrite, s.createProcessor)
		route("GET /api/v1/processors/{id}", token.ProcessorsRead, s.getProcessor)
		route("PATCH /api/v1/processors/{id}", token.ProcessorsWrite, s.patchProcessor)
		route("DELETE /api/v1/processors/{id}", token.ProcessorsWrite, s.endProcessor)
		route("POST /api/v1/disclosures", token.Disclose, s.disclose)
		route("GET /api/v1/shared/contacts/{id}", token.SharedRead, s.readShared)
		route("GET /api/v1/ropa", token.ProcessorsRead, s.ropa)
	}
	if s.Breaches != nil {
		route("GET /api/v1/breaches", token.BreachesRead, s.listBreaches)
		route("POST /api/v1/breaches", token.BreachesWrite, s.createBreach)
		route("GET /api/v1/breaches/{id}", token.BreachesRead, s.getBreach)
		route("PATCH /api/v1/breaches/{id}", token.BreachesWrite, s.patchBreach)
		route("GET /api/v1/breaches/{id}/notice", token.BreachesRead, s.breachNotice)
	}
	if s.Retention != nil {
		route("GET /api/v1/retention-policies", token.PurposesRead, s.listRetentionPolicies)
		route("POST /api/v1/retention-policies", token.ContactsErase, s.createRetentionPolicy)
		route("DELETE /api/v1/retention-policies/{id}", token.ContactsErase, s.deleteRetentionPolicy)
		route("POST /api/v1/retention/sweep", token.ContactsErase, s.sweep)
		route("GET /api/v1/contacts/{id}/legal-hold", token.ContactsRead, s.getLegalHold)
		route("PUT /api/v1/contacts/{id}/legal-hold", token.ContactsRestrict, s.legalHold(true))
		route("DELETE /api/v1/contacts/{id}/legal-hold", token.ContactsRestrict, s.legalHold(false))
	}
	if s.DPAs != nil {
		route("POST /api/v1/dpa-requests", token.ProcessorsWrite, s.createDPARequest)
		route("GET /api/v1/dpa-requests", token.ProcessorsRead, s.listDPARequests)
		route("GET /api/v1/dpa-requests/{id}", token.ProcessorsRead, s.getDPARequest)
		route("PATCH /api/v1/dpa-requests/{id}", token.ProcessorsWrite, s.patchDPARequest)
		route("GET /api/v1/dpa-requests/{id}/document", token.ProcessorsRead, s.dpaDocument)
	}
	if s.Webhooks != nil {
		route("GET /api/v1/processors/{id}/deliveries", token.ProcessorsRead, s.processorDeliveries)
		route("GET /api/v1/notification-tasks", token.RequestsRead, s.listNotificationTasks)
		route("POST /api/v1/notification-tasks/{id}/done", token.ProcessorsWrite, s.notificationTaskDone)
		mux.HandleFunc("POST /webhooks/acknowledgements", s.acknowledge)
	}
	route("GET /api/v1/policies", token.PurposesRead, s.listPolicies)
	route("POST /api/v1/policies", token.PurposesWrite, s.draftPolicy)
	route("GET /api/v1/policies/{id}", token.PurposesRead, s.getPolicy)
	route("POST /api/v1/policies/{id}/publish", token.PurposesWrite, s.publishPolicy)
	route("DELETE /api/v1/contacts/{id}/objections/{scope}", token.ContactsRestrict, s.liftObjection)
	route("PUT /api/v1/contacts/{id}/restriction", token.ContactsRestrict, s.restrict)
	route("DELETE /api/v1/contacts/{id}/restriction", token.ContactsRestrict, s.liftRestriction)
	route("GET /api/v1/purposes", token.PurposesRead, s.listPurposes)
	route("POST /api/v1/purposes", token.PurposesWrite, s.createPurpose)
	route("GET /api/v1/purposes/{id}", token.PurposesRead, s.getPurpose)
	route("POST /api/v1/imports", token.ImportsWrite, s.createImport)
	route("GET /api/v1/imports/{id}/errors", token.ImportsWrite, s.importErrors)
	route("GET /api/v1/audit", token.AuditRead, s.listAudit)
	route("GET /api/v1/audit/verify", token.AuditRead, s.verifyAudit)
	return secure(paceBodies(s.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != path.Clean(p) && (strings.HasPrefix(p, "/api/") || p != path.Clean(p)+"/") {
			// The mux would redirect (307) to the cleaned path, which names another resource. A
			// page path may end in one slash ("/console/").
			s.writeProblem(w, r, &apperr.Error{Kind: apperr.NotFound, Reason: "no_route", Message: "no such route"})
			return
		}
		if r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/api/") {
			// HEAD of an audited read would read personal data without answering it.
			w.Header().Set("Allow", "GET")
			s.writeProblem(w, r, &statusError{status: http.StatusMethodNotAllowed, err: &apperr.Error{Kind: apperr.Invalid, Reason: "method_not_allowed", Message: "HEAD is not served; use GET"}})
			return
		}
		_, pattern := mux.Handler(r)
		if pattern == "" {
			s.noRoute(w, r, mux)
			return
		}
		if err := checkText(pattern, r.URL); err != nil {
			s.writeProblem(w, r, err)
			return
		}
		mux.ServeHTTP(w, r)
	})), s.BodyTimeout, s.BodyMinRate))
}

// noRoute answers a request no route takes as problem+json: 405 with the Allow header when the
// path exists for other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	rec := &recorder{header: http.Header{}}
	mux.ServeHTTP(rec, r) // the mux's own 404 or 405, captured to learn which
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeProblem(w, r, &statusError{status: http.StatusMethodNotAllowed, err: &apperr.Error{Kind: apperr.Invalid, Reason: "method_not_allowed", Message: "this route does not take " + r.Method + "; see the Allow header"}})
		return
	}
	s.writeProblem(w, r, &apperr.Error{Kind: apperr.NotFound, Reason: "no_route", Message: "no such route"})
}

// recorder captures a status and header, discarding the body.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.status = code }

type ctxKey int

const (
	requestIDKey ctxKey = 1
	processorKey ctxKey = 2 // the processor a processor-scoped token speaks for
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = audit.WithRequestID(ctx, id)
		w.Header().Set("X-Request-ID", id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		elapsed := time.Since(start)
		// Never log r.URL: its query may hold an e-mail address or a phone number.
		s.Logger.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", r.Pattern),
			slog.Int("status", sw.status), slog.Duration("duration", elapsed))
		if s.Observe != nil {
			s.Observe(r.Pattern, sw.status, elapsed)
		}
	})
}

func (s *Server) authorize(perm token.Permission, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		scheme, secret, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" { // RFC 9110 §11.1: the scheme is case-insensitive
			s.writeProblem(w, r, &apperr.Error{Kind: apperr.Unauthenticated, Reason: "missing_token", Message: "an Authorization: Bearer token is required"})
			return
		}
		t, err := s.Tokens.Authenticate(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		if !token.Allows(t.Role, perm) {
			s.writeProblem(w, r, &apperr.Error{Kind: apperr.Forbidden, Reason: "role_forbidden", Message: fmt.Sprintf("the %s role may not do this (needs %s)", t.Role, perm)})
			return
		}
		ctx := audit.WithActor(r.Context(), audit.Actor{Kind: audit.ActorToken, ID: t.ID, Role: string(t.Role)})
		ctx = context.WithValue(ctx, processorKey, t.ProcessorID)
		if err := h(w, r.WithContext(ctx)); err != nil {
			s.writeProblem(w, r, err)
		}
	})
}

// reply writes v as JSON with status, or returns err for writeProblem when it is not nil.
func reply(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxBody bounds a JSON request body (1 MiB).
const maxBody = 1 << 20

// decode reads a JSON body strictly: a body over 1 MiB (413), a media type other than JSON (415),
// bytes that are not UTF-8, a key given twice, a key in the wrong case, unknown fields, trailing
// data and wrong types are errors that name the field.
func decode(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); ct != "" && mt != "application/json" && mt != "application/merge-patch+json" {
		return &statusError{status: http.StatusUnsupportedMediaType, err: apperr.Invalidf("Content-Type", "unsupported_media_type", "Content-Type: send application/json")}
	}
	body, err := readBody(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.Invalidf("body", "empty_body", "body: a JSON object is required")
	}
	if !utf8.Valid(body) {
		return apperr.Invalidf("body", "invalid_utf8", "body: not valid UTF-8")
	}
	return jsonin.Decode(body, v)
}
