package portal

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/governance"
)

// The portal's Content-Security-Policy: nothing but inline styles, forms post to the portal
// itself, and no page may be framed (clickjacking of the one-button pages; the server also
// sends X-Frame-Options: DENY on every answer). documentCSP is for pages without a form.
const (
	pageCSP     = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
	documentCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
)

//go:embed templates/*.html
var templateFS embed.FS

// Server serves the portal's pages. Its fields are set once by internal/app; New parses the
// templates.
type Server struct {
	Policies   *consent.Policies
	Consent    *consent.Service
	Controller consent.Controller
	Logger     *slog.Logger

	// Recipients, when set, lists the recipients of personal data for the notice (GDPR Art.
	// 13(1)(e), (f)): one line each, naming role, country and transfer mechanism.
	Recipients func(ctx context.Context) ([]string, error)
	// Retention, when set, lists the retention policies, named in each purpose's retention
	// (GDPR Art. 13(2)(a), governance.RetentionText).
	Retention func(ctx context.Context) ([]governance.Policy, error)

	tmpl *template.Template
	md   goldmark.Markdown
}

// New returns a Server with its templates parsed.
func New(p *consent.Policies, c *consent.Service, ctrl consent.Controller, logger *slog.Logger) (*Server, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("portal: templates: %w", err)
	}
	// GitHub-flavoured Markdown (tables, strikethrough, autolinks); raw HTML stays out.
	return &Server{Policies: p, Consent: c, Controller: ctrl, Logger: logger, tmpl: t, md: goldmark.New(goldmark.WithExtensions(extension.GFM))}, nil
}

// privacyView is the view of /p/privacy.
type privacyView struct {
	Language   string
	Controller consent.Controller
	Purposes   []purposeView
	Processors []string
	Documents  []documentView
}

type purposeView struct {
	Name, Description, Basis, Retention string
}

type documentView struct {
	ID, Title     string
	Published     bool
	Version       int
	Since, SHA256 string
	HTML          template.HTML
}

var basisNames = map[string]string{
	consent.BasisConsent:            "Your consent (GDPR Art. 6(1)(a))",
	consent.BasisContract:           "A contract with you (Art. 6(1)(b))",
	consent.BasisLegalObligation:    "A legal obligation (Art. 6(1)(c))",
	consent.BasisVitalInterest:      "Vital interests (Art. 6(1)(d))",
	consent.BasisPublicTask:         "A task in the public interest (Art. 6(1)(e))",
	consent.BasisLegitimateInterest: "Our legitimate interest (Art. 6(1)(f)); you may object",
}

// Privacy serves GET /p/privacy: the controller and its data protection officer, the purposes
// with their lawful basis and retention, the processors, and the current privacy policy and terms
// (GDPR Art. 13 and 14).
func (s *Server) Privacy(w http.ResponseWriter, r *http.Request) {
	v, err := s.privacy(r.Context())
	if err != nil {
		s.Logger.ErrorContext(r.Context(), "privacy page", slog.Any("error", err))
		http.Error(w, "The privacy notice cannot be shown right now. Please try again later.", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "privacy.html", v); err != nil {
		s.Logger.ErrorContext(r.Context(), "privacy page", slog.Any("error", err))
		http.Error(w, "The privacy notice cannot be shown right now.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", documentCSP)
	w.Write(buf.Bytes())
}

func (s *Server) privacy(ctx context.Context) (privacyView, error) {
	v := privacyView{Language: s.Controller.Language, Controller: s.Controller}
	if v.Language == "" {
		v.Language = "en"
	}
	if v.Controller.Name == "" {
		v.Controller.Name = "(the controller's name is not configured: set TILLIT_CONTROLLER_NAME)"
	}
	ps, err := s.Consent.Purposes(ctx)
	if err != nil {
		return v, err
	}
	var policies []governance.Policy
	if s.Retention != nil {
		if policies, err = s.Retention(ctx); err != nil {
			return v, err
		}
	}
	for _, p := range ps {
		v.Purposes = append(v.Purposes, purposeView{Name: p.Name, Description: p.Description, Basis: basisNames[p.LawfulBasis], Retention: governance.RetentionText(p, policies)})
	}
	if s.Recipients != nil {
		if v.Processors, err = s.Recipients(ctx); err != nil {
			return v, err
		}
	}
	versions, err := s.Policies.Current(ctx)
	if err != nil {
		return v, err
	}
	for _, d := range []struct{ id, title string }{{consent.DocPrivacyPolicy, "Privacy policy"}, {consent.DocTermsOfService, "Terms of service"}} {
		dv := documentView{ID: d.id, Title: d.title}
		if pv, ok := versions[d.id]; ok {
			var html bytes.Buffer
			if err := s.md.Convert([]byte(pv.Body), &html); err != nil {
				return v, err
			}
			dv.Published, dv.Version, dv.SHA256 = true, pv.Version, pv.SHA256
			dv.Since = pv.EffectiveAt.Format(time.DateOnly)
			dv.HTML = template.HTML(html.String()) // goldmark leaves raw HTML out unless told otherwise
		}
		v.Documents = append(v.Documents, dv)
	}
	return v, nil
}
