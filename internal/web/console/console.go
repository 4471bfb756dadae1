package console

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/token"
)

//go:embed templates/*.html
var templateFS embed.FS

// cookieName holds the console session id (HttpOnly, SameSite=Strict). The session is kept in
// the database (token.Service.SignIn), so every node of a cluster knows it: the API token the
// staff member signed in with never reaches the browser again, signing out ends the session at
// once everywhere, and a revoked token ends it too.
const cookieName = "tillit_console"

// Server serves the console. Fields are set once by internal/app; New parses the templates.
type Server struct {
	Tokens   *token.Service
	Requests *dsr.Service
	Logger   *slog.Logger
	// Secure marks the cookie Secure; set when the console is served over HTTPS.
	Secure bool
	// ROPA, when set, builds the record of processing activities for GET /console/ropa.
	ROPA func(ctx context.Context) (governance.ROPA, error)
	// Notifications, when set, serves the queue of recipients to tell by hand (GDPR Art. 19) at
	// /console/notifications.
	Notifications *share.Webhooks

	tmpl *template.Template
}

// New returns a Server with its templates parsed.
func New(tokens *token.Service, requests *dsr.Service, logger *slog.Logger, secure bool) (*Server, error) {
	t, err := template.New("console").Funcs(template.FuncMap{"neg": func(n int) int { return -n }}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	return &Server{Tokens: tokens, Requests: requests, Logger: logger, Secure: secure, tmpl: t}, nil
}

// Routes returns the console's routes by pattern. protect wraps every state-changing route
// (the caller's cross-origin protection, on top of the SameSite=Strict cookie).
func (s *Server) Routes(protect func(http.Handler) http.Handler) map[string]http.Handler {
	return map[string]http.Handler{
		"GET /console/{$}":                      http.RedirectHandler("/console/requests", http.StatusSeeOther),
		"GET /console/login":                    http.HandlerFunc(s.loginPage),
		"POST /console/login":                   protect(http.HandlerFunc(s.login)),
		"POST /console/logout":                  protect(http.HandlerFunc(s.logout)),
		"GET /console/requests":                 http.HandlerFunc(s.queue),
		"GET /console/ropa":                     http.HandlerFunc(s.ropa),
		"GET /console/requests/{id}":            http.HandlerFunc(s.detail),
		"POST /console/requests/{id}/{action}":  protect(http.HandlerFunc(s.act)),
		"GET /console/notifications":            http.HandlerFunc(s.notifications),
		"POST /console/notifications/{id}/done": protect(http.HandlerFunc(s.notificationDone)),
	}
}

// page is what every template gets.
type page struct {
	Title, Role, Error string
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store") // pages hold personal data
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.Logger.ErrorContext(r.Context(), "console page", slog.Any("error", err))
	http.Error(w, "Something went wrong on our side. Please try again later.", http.StatusInternalServerError)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login.html", page{Title: "Sign in"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	t, err := s.Tokens.Authenticate(r.Context(), secret)
	if err != nil {
		if apperr.Is(err, apperr.Unauthenticated) {
			s.render(w, r, http.StatusUnauthorized, "login.html", page{Title: "Sign in", Error: "That token is not valid (or was revoked)."})
			return
		}
		s.fail(w, r, err)
		return
	}
	if !token.Allows(t.Role, token.RequestsRead) && !token.Allows(t.Role, token.ProcessorsRead) {
		s.render(w, r, http.StatusForbidden, "login.html", page{Title: "Sign in", Error: fmt.Sprintf("The %s role has no access to the console.", t.Role)})
		return
	}
	id, _, err := s.Tokens.SignIn(r.Context(), secret)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/console", MaxAge: int(token.SessionAge.Seconds()),
		HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteStrictMode})
	landing := "/console/requests"
	if !token.Allows(t.Role, token.RequestsRead) {
		landing = "/console/ropa" // the auditor reads the record, not the queue
	}
	http.Redirect(w, r, landing, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		if err := s.Tokens.SignOut(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console", MaxAge: -1, HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// staff authenticates the console cookie and checks perm, returning a context that carries the
// token as the audit actor. On failure it has answered: a GET goes to the sign-in page.
func (s *Server) staff(w http.ResponseWriter, r *http.Request, perm token.Permission) (context.Context, token.Role, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return nil, "", false
	}
	t, err := s.Tokens.Session(r.Context(), c.Value)
	if err != nil {
		if !apperr.Is(err, apperr.Unauthenticated) {
			s.fail(w, r, err)
			return nil, "", false
		}
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return nil, "", false
	}
	if !token.Allows(t.Role, perm) {
		s.render(w, r, http.StatusForbidden, "login.html", page{Title: "Not allowed", Role: string(t.Role), Error: fmt.Sprintf("The %s role may not do this (needs %s).", t.Role, perm)})
		return nil, "", false
	}
	return audit.WithActor(r.Context(), t.Actor()), t.Role, true
}

// ropa serves GET /console/ropa: the record of processing activities as a printable page.
func (s *Server) ropa(w http.ResponseWriter, r *http.Request) {
	ctx, role, ok := s.staff(w, r, token.ProcessorsRead)
	if !ok {
		return
	}
	if s.ROPA == nil {
		http.NotFound(w, r)
		return
	}
	rec, err := s.ROPA(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "ropa.html", struct {
		page
		Record governance.ROPA
	}{page{Title: "Record of processing activities", Role: string(role)}, rec})
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// row is one request in the queue.
type row struct {
	ID, Type, State, Channel, Received, Deadline, Assignee, Urgency string
	DaysLeft                                                        int
}

type queueView struct {
	page
	Views, Types []option
	Assignee     string
	Items        []row
	Next         string
}

// views are the queue's lists: open (default), overdue, due within 7 days, by state, all.
var views = []struct{ value, label string }{
	{"open", "Open requests"}, {"overdue", "Overdue"}, {"due_soon", "Due within 7 days"},
	{"waiting", "Waiting for identity"}, {"completed", "Completed"}, {"rejected", "Rejected"}, {"all", "All requests"},
}

// queue serves GET /console/requests: the request queue, oldest first, with the deadline and the
// days left; ?view= picks a list, ?type= and ?assignee= filter, ?cursor= pages.
func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	ctx, role, ok := s.staff(w, r, token.RequestsRead)
	if !ok {
		return
	}
	q := r.URL.Query()
	view := q.Get("view")
	if view == "" {
		view = "open"
	}
	now := s.Requests.Now()
	f := dsr.Filter{Type: dsr.Type(q.Get("type")), Assignee: q.Get("assignee"), After: q.Get("cursor"), Limit: 100}
	switch view {
	case "open":
		f.Open = true
	case "overdue":
		f.DueBy = now
	case "due_soon":
		f.DueBy = now.AddDate(0, 0, 7)
	case "waiting":
		f.Waiting = true
	case "completed", "rejected":
		f.State = dsr.State(view)
	case "all":
	default:
		view, f.Open = "open", true
	}
	v := queueView{page: page{Title: "Data subject requests", Role: string(role)}, Assignee: f.Assignee}
	for _, o := range views {
		v.Views = append(v.Views, option{Value: o.value, Label: o.label, Selected: o.value == view})
	}
	for _, t := range dsr.Types {
		v.Types = append(v.Types, option{Value: string(t), Label: string(t) + " (" + t.Article() + ")", Selected: t == f.Type})
	}
	items, next, err := s.Requests.List(ctx, f)
	if e := apperr.As(err); e != nil && e.Kind == apperr.Invalid {
		v.Error = e.Message
		s.render(w, r, http.StatusBadRequest, "queue.html", v)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if view != "completed" && view != "rejected" && view != "all" {
		// Open work comes soonest deadline first (within the page of 100; pages follow the id
		// order the API's cursor uses).
		slices.SortStableFunc(items, func(a, b dsr.View) int { return a.Deadline().Compare(b.Deadline()) })
	}
	for _, it := range items {
		v.Items = append(v.Items, row{ID: it.ID, Type: string(it.Type), State: string(it.State), Channel: string(it.Channel),
			Received: it.ReceivedAt.UTC().Format("2006-01-02"), Deadline: it.Deadline().UTC().Format("2006-01-02"),
			Assignee: it.Assignee, DaysLeft: it.DaysLeft, Urgency: urgency(it)})
	}
	if next != "" {
		q.Set("cursor", next)
		v.Next = "/console/requests?" + q.Encode()
	}
	s.render(w, r, http.StatusOK, "queue.html", v)
}

// urgency marks an open request overdue, or due within 7 days.
func urgency(v dsr.View) string {
	switch {
	case v.Overdue:
		return "overdue"
	case v.Open() && v.DaysLeft <= 7, v.Late:
		return "soon"
	}
	return ""
}

// detailRequest is the request as the detail page shows it.
type detailRequest struct {
	dsr.View
	Article, Received, Deadline, Urgency string
}

type detailView struct {
	page
	Request                                 detailRequest
	Timeline                                []dsr.Entry
	Path                                    string
	Open, CanVerify, CanExtend, CanComplete bool
	// Receipt is an erasure request's receipt as the person reads it, with each recipient's
	// status as it stands now; "" for other requests.
	Receipt string
}

// detail serves GET /console/requests/{id}: the request with the requester's address and details
// (an audited read), its timeline and the actions its state allows.
func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	ctx, role, ok := s.staff(w, r, token.RequestsRead)
	if !ok {
		return
	}
	s.showDetail(w, r, ctx, role, http.StatusOK, "")
}

func (s *Server) showDetail(w http.ResponseWriter, r *http.Request, ctx context.Context, role token.Role, status int, msg string) {
	id := strings.ToLower(r.PathValue("id"))
	v, err := s.Requests.Get(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tl, err := s.Requests.Timeline(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Staff read "token:<id>" as the token's name and role (tillit token list names them too).
	if toks, err := s.Tokens.List(ctx); err == nil {
		names := map[string]string{}
		for _, t := range toks {
			names["token:"+t.ID] = t.Name + " (" + string(t.Role) + ")"
		}
		for i, e := range tl {
			if n, ok := names[e.Actor]; ok {
				tl[i].Actor = n
			}
		}
	}
	now := s.Requests.Now()
	d := detailView{page: page{Title: "Request " + id, Role: string(role), Error: msg}, Timeline: tl, Path: "/console/requests/" + id,
		Request: detailRequest{View: v, Article: v.Type.Article(), Received: v.ReceivedAt.UTC().Format("2006-01-02 15:04 UTC"),
			Deadline: v.Deadline().UTC().Format("2006-01-02"), Urgency: urgency(v)},
		Open:        v.Open(),
		CanVerify:   v.State == dsr.StateReceived || v.State == dsr.StateVerifying,
		CanExtend:   v.State == dsr.StateInProgress && !now.After(v.DueAt),
		CanComplete: v.State == dsr.StateInProgress || v.State == dsr.StateExtended,
	}
	if v.Type == dsr.TypeErasure {
		rc, err := s.Requests.Receipt(ctx, id)
		switch {
		case err == nil:
			d.Receipt = rc.Text
		case !apperr.Is(err, apperr.NotFound):
			s.fail(w, r, err)
			return
		}
	}
	s.render(w, r, status, "detail.html", d)
}

// act serves POST /console/requests/{id}/{action} (assign, notes, verify, extend, reject,
// complete) and shows the request again: after success by a redirect, after a refused action
// with the reason, which names the field and never holds personal data.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	ctx, role, ok := s.staff(w, r, token.RequestsWrite)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	f := r.PostForm
	var err error
	switch r.PathValue("action") {
	case "assign":
		_, err = s.Requests.Assign(ctx, id, f.Get("assignee"))
	case "notes":
		_, err = s.Requests.AddNote(ctx, id, f.Get("note"))
	case "verify":
		if f.Get("confirm_other_address") == "" {
			_, err = s.Requests.Verify(ctx, id, f.Get("contact_id"), f.Get("note"))
		} else {
			_, err = s.Requests.VerifyOtherAddress(ctx, id, f.Get("contact_id"), f.Get("note"))
		}
	case "send-link":
		_, err = s.Requests.SendLink(ctx, id)
	case "extend":
		months, _ := strconv.Atoi(f.Get("months"))
		_, err = s.Requests.Extend(ctx, id, months, f.Get("reason"))
	case "reject":
		_, err = s.Requests.Reject(ctx, id, f.Get("reason"))
	case "complete":
		err = s.complete(ctx, id, f)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		e := apperr.As(err)
		if e == nil || e.Kind == apperr.Internal {
			s.fail(w, r, err)
			return
		}
		if e.Kind == apperr.NotFound {
			http.NotFound(w, r)
			return
		}
		status := map[apperr.Kind]int{apperr.Invalid: http.StatusBadRequest, apperr.Conflict: http.StatusConflict, apperr.Forbidden: http.StatusForbidden}[e.Kind]
		if status == 0 {
			status = http.StatusBadRequest
		}
		s.showDetail(w, r, ctx, role, status, e.Message)
		return
	}
	http.Redirect(w, r, "/console/requests/"+url.PathEscape(id), http.StatusSeeOther)
}

// complete fulfils and closes the request from the completion form; who may is the request
// service's rule, the same as the API's (dsr.Service.Complete).
func (s *Server) complete(ctx context.Context, id string, f url.Values) error {
	c := dsr.Completion{Note: f.Get("note"), Scope: strings.TrimSpace(f.Get("scope"))}
	for _, p := range strings.Split(f.Get("purposes"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Purposes = append(c.Purposes, p)
		}
	}
	if raw := strings.TrimSpace(f.Get("changes")); raw != "" {
		p, err := contact.ParseMergePatch([]byte(raw), "changes")
		if err != nil {
			return err
		}
		c.Changes = &p
	}
	_, err := s.Requests.Complete(ctx, id, c)
	return err
}
