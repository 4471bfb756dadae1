package governance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/share"
)

// DPA request states.
const (
	DPARequested = "requested"
	DPASent      = "sent"
	DPASigned    = "signed"
	DPADeclined  = "declined"
)

// DPARequest is a customer's request for the data processing agreement (GDPR Art. 28(3)).
type DPARequest struct {
	ID              string     `json:"id"`
	Customer        string     `json:"customer"` // the company's name
	TemplateVersion int        `json:"template_version"`
	Status          string     `json:"status"`
	SignedAt        *time.Time `json:"signed_at,omitempty"`
	// Signed is the agreement as it was when signed (Markdown), kept unchanged: later changes
	// to the register or the date do not alter a signed document. Empty until signed.
	Signed    string    `json:"-"`
	SHA256    string    `json:"signed_sha256,omitempty"` // hex SHA-256 of Signed
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int       `json:"version"`
}

// DPATx is what DPA requests need from one store transaction.
type DPATx interface {
	InsertDPARequest(ctx context.Context, r *DPARequest) error
	UpdateDPARequest(ctx context.Context, r *DPARequest) error // NotFound when absent
	DPARequestByID(ctx context.Context, id string) (*DPARequest, error)
	ListDPARequests(ctx context.Context) ([]*DPARequest, error)
	AppendAudit(ctx context.Context, e *audit.Event) error
}

// DPAStore runs serialized transactions.
type DPAStore interface {
	Update(ctx context.Context, fn func(DPATx) error) error
}

// DPAs tracks DPA requests and renders the agreement. Fields are set once by internal/app.
type DPAs struct {
	Store      DPAStore
	Policies   *consent.Policies
	Share      *share.Service
	Controller consent.Controller
	Now        func() time.Time
	NewID      func() string
}

// ReasonControllerNotConfigured is the Conflict reason of Request and Document while the
// controller's name or address is not configured: an agreement needs both parties (GDPR Art.
// 28(3)).
const ReasonControllerNotConfigured = "controller_not_configured"

// Ready returns nil when an agreement can be drawn up, or a Conflict (reason
// ReasonControllerNotConfigured) whose message names the controller settings that are empty: the
// name, street and city (TILLIT_CONTROLLER_NAME, _STREET, _CITY). Postal code and country are
// printed when set.
func (s *DPAs) Ready() error {
	var missing []string
	for _, f := range []struct{ value, name string }{
		{s.Controller.Name, "name (TILLIT_CONTROLLER_NAME)"},
		{s.Controller.Street, "street (TILLIT_CONTROLLER_STREET)"},
		{s.Controller.Locality, "city (TILLIT_CONTROLLER_CITY)"},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &apperr.Error{Kind: apperr.Conflict, Reason: ReasonControllerNotConfigured,
		Message: "the agreement would name no controller: the controller's " + strings.Join(missing, ", ") + " not configured"}
}

// Request records a DPA request for customer against the published dpa_template in force
// ("dpa.request"). Invalid for an empty or over-long customer name; Conflict when no dpa_template
// is published (reason no_template) or the controller is not configured (see Ready).
func (s *DPAs) Request(ctx context.Context, customer string) (DPARequest, error) {
	customer = strings.TrimSpace(customer)
	if customer == "" || utf8.RuneCountInString(customer) > 200 || !utf8.ValidString(customer) || strings.IndexFunc(customer, notPlain) >= 0 {
		return DPARequest{}, apperr.Invalidf("customer", "invalid_customer", "customer: the company's name on one line, 1 to 200 characters, no control or direction characters")
	}
	if err := s.Ready(); err != nil {
		return DPARequest{}, err
	}
	cur, err := s.Policies.Current(ctx)
	if err != nil {
		return DPARequest{}, err
	}
	tmpl, ok := cur[consent.DocDPATemplate]
	if !ok {
		return DPARequest{}, &apperr.Error{Kind: apperr.Conflict, Reason: "no_template", Message: "no dpa_template is published: draft and publish one at /api/v1/policies"}
	}
	now := s.Now().UTC()
	r := &DPARequest{ID: s.NewID(), Customer: customer, TemplateVersion: tmpl.Version, Status: DPARequested, CreatedAt: now, UpdatedAt: now, Version: 1}
	err = s.Store.Update(ctx, func(tx DPATx) error {
		if err := tx.InsertDPARequest(ctx, r); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "dpa.request", "dpa_request", r.ID, "customer")
		return tx.AppendAudit(ctx, &ev)
	})
	return *r, err
}

// SetStatus tracks a request: sent, signed (with signedAt, default now) or declined
// ("dpa.status"). Signing freezes the agreement as rendered now (Signed, SHA256); leaving the
// signed state clears the signature. Invalid for another status, or a signing time in the future
// or before the request; NotFound for an unknown request.
func (s *DPAs) SetStatus(ctx context.Context, id, status string, signedAt *time.Time) (DPARequest, error) {
	if !slices.Contains([]string{DPARequested, DPASent, DPASigned, DPADeclined}, status) {
		return DPARequest{}, apperr.Invalidf("status", "invalid_status", "status: requested, sent, signed or declined")
	}
	var frozen string
	if status == DPASigned {
		md, err := s.Document(ctx, id)
		if err != nil {
			return DPARequest{}, err
		}
		frozen = md
	}
	var out DPARequest
	err := s.Store.Update(ctx, func(tx DPATx) error {
		r, err := tx.DPARequestByID(ctx, id)
		if err != nil {
			return err
		}
		now := s.Now().UTC()
		r.Status, r.UpdatedAt, r.Version = status, now, r.Version+1
		switch {
		case status == DPASigned && r.Signed == "":
			t := now
			if signedAt != nil {
				t = signedAt.UTC()
			}
			if t.After(now) || t.Before(r.CreatedAt.Truncate(time.Second)) {
				return apperr.Invalidf("signed_at", "invalid_time", "signed_at: between the request and now")
			}
			r.SignedAt, r.Signed = &t, frozen
			sum := sha256.Sum256([]byte(frozen))
			r.SHA256 = hex.EncodeToString(sum[:])
		case status != DPASigned:
			r.SignedAt, r.Signed, r.SHA256 = nil, "", ""
		}
		if err := tx.UpdateDPARequest(ctx, r); err != nil {
			return err
		}
		ev := audit.New(ctx, now, "dpa.status", "dpa_request", r.ID, "status")
		out = *r
		return tx.AppendAudit(ctx, &ev)
	})
	return out, err
}

// Get returns one request; List every request, newest first.
func (s *DPAs) Get(ctx context.Context, id string) (DPARequest, error) {
	var out DPARequest
	err := s.Store.Update(ctx, func(tx DPATx) error {
		r, err := tx.DPARequestByID(ctx, id)
		if err == nil {
			out = *r
		}
		return err
	})
	return out, err
}

// List returns every DPA request, newest first.
func (s *DPAs) List(ctx context.Context) ([]DPARequest, error) {
	out := []DPARequest{}
	err := s.Store.Update(ctx, func(tx DPATx) error {
		rs, err := tx.ListDPARequests(ctx)
		for _, r := range rs {
			out = append(out, *r)
		}
		return err
	})
	return out, err
}

// DPAPlaceholders are the placeholders Document fills in a dpa_template, each written as
// {{name}}; CheckTemplate refuses any other.
var DPAPlaceholders = []string{"controller.name", "controller.address", "controller.email", "dpo", "customer", "date", "sub_processors"}

// Document renders the agreement of a request as Markdown: the template version the request was
// made against, with the DPAPlaceholders filled in; without {{customer}} a line naming the
// parties opens the document, and without {{sub_processors}} the list is appended as an annex.
// The sub-processors are the current register's recipients of role processor or sub_processor
// (GDPR Art. 28(2), (4)). A signed agreement is returned as signed; an unsigned one is Conflict
// while the controller is not configured (see Ready); NotFound for an unknown request.
func (s *DPAs) Document(ctx context.Context, id string) (string, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if r.Signed != "" {
		return r.Signed, nil // as signed
	}
	if err := s.Ready(); err != nil {
		return "", err
	}
	versions, err := s.Policies.List(ctx)
	if err != nil {
		return "", err
	}
	var body string
	for _, v := range versions {
		if v.Document == consent.DocDPATemplate && v.Version == r.TemplateVersion {
			body = v.Body
		}
	}
	processors, err := s.Share.List(ctx)
	if err != nil {
		return "", err
	}
	var table strings.Builder
	table.WriteString("| Sub-processor | Role | Country | Transfer mechanism | Purposes |\n|---|---|---|---|---|\n")
	n := 0
	for _, p := range processors {
		if p.Role == share.RoleController || p.EndedAt != nil {
			continue
		}
		n++
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %s |\n", cell(mdText(p.Name)), p.Role, p.Country, p.TransferMechanism, strings.Join(p.Purposes, ", "))
	}
	if n == 0 {
		table.Reset()
		table.WriteString("No sub-processor is engaged.\n")
	}
	ctrl := s.Controller
	address := strings.Join(nonEmpty(ctrl.Street, strings.TrimSpace(ctrl.PostalCode+" "+ctrl.Locality), ctrl.Country), ", ")
	dpo := ctrl.DPOEmail
	if dpo == "" {
		dpo = "not designated"
	}
	if !strings.Contains(body, "{{customer}}") {
		// The document names its parties whatever the template says.
		body = "**{{controller.name}}** ({{controller.address}}, {{controller.email}}; data protection officer: {{dpo}}) and **{{customer}}**, {{date}}.\n\n" + body
	}
	if !strings.Contains(body, "{{sub_processors}}") {
		body += "\n\n## Annex: sub-processors\n\n{{sub_processors}}"
	}
	values := map[string]string{
		// The settings are text too: a name such as "Åkesson & <Söner>" must read as written.
		"controller.name": mdText(ctrl.Name), "controller.address": mdText(address), "controller.email": ctrl.Email,
		"dpo": dpo, "customer": mdText(r.Customer), "date": s.Now().UTC().Format("2 January 2006"),
		"sub_processors": table.String(),
	}
	pairs := make([]string, 0, 2*len(DPAPlaceholders))
	for _, name := range DPAPlaceholders {
		pairs = append(pairs, "{{"+name+"}}", values[name])
	}
	return strings.NewReplacer(pairs...).Replace(body), nil
}

// placeholder matches {{name}} in a template.
var placeholder = regexp.MustCompile(`\{\{([^{}]*)\}\}`)

// CheckTemplate checks the body of a policy document before it is drafted or published
// (consent.Policies.Check). In a dpa_template every {{placeholder}} must be one of
// DPAPlaceholders, in a breach_notice_template one of BreachPlaceholders (Invalid on field body,
// reason unknown_placeholder, naming the first unknown one). In a dpa_template raw HTML (tags, comments) is refused (reason raw_html, with its line): the HTML
// rendering leaves it out while the PDF and the Markdown would print it, so the three would
// differ, and an agreement must read the same in each. nil for every other document.
func CheckTemplate(document, body string) error {
	var known []string
	switch document {
	case consent.DocDPATemplate:
		known = DPAPlaceholders
	case consent.DocBreachNoticeTemplate:
		known = BreachPlaceholders
	default:
		return nil
	}
	for _, m := range placeholder.FindAllStringSubmatch(body, -1) {
		if !slices.Contains(known, m[1]) {
			return apperr.Invalidf("body", "unknown_placeholder", "body: unknown placeholder {{%s}} in a %s (known: {{%s}})", m[1], document, strings.Join(known, "}}, {{"))
		}
	}
	if line := rawHTMLLine([]byte(body)); line > 0 && document == consent.DocDPATemplate {
		return apperr.Invalidf("body", "raw_html", "body: raw HTML on line %d; a %s is Markdown without HTML (it would show in the PDF and Markdown but not in the HTML rendering)", line, document)
	}
	return nil
}

// rawHTMLLine returns the 1-based line of the first raw HTML (an HTML block or an inline tag or
// comment) that the renderer of HTML would meet in the Markdown src, or 0 when there is none.
func rawHTMLLine(src []byte) int {
	doc := markdown().Parser().Parse(text.NewReader(src))
	at := -1
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.HTMLBlock:
			if n.Lines().Len() > 0 {
				at = n.Lines().At(0).Start
			} else if n.HasClosure() {
				at = n.ClosureLine.Start
			}
		case *ast.RawHTML:
			if n.Segments.Len() > 0 {
				at = n.Segments.At(0).Start
			}
		}
		if at >= 0 {
			return ast.WalkStop, nil
		}
		return ast.WalkContinue, nil
	})
	if at < 0 {
		return 0
	}
	return bytes.Count(src[:at], []byte("\n")) + 1
}

// markdown is the one Markdown dialect of agreements: GitHub-flavoured.
func markdown() goldmark.Markdown {
	return goldmark.New(goldmark.WithExtensions(extension.GFM))
}

// notPlain reports control and bidirectional-formatting characters, which have no place in a
// company's name (a line break would start new clauses; U+202E would reverse the text).
func notPlain(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// mdText escapes s for Markdown inline text (a backslash before ASCII punctuation Markdown reads,
// CommonMark §2.4), so a name given by a customer or in the settings reads as a name and cannot
// add headings, links, emphasis, HTML or character references (&amp;) to the agreement.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]()#+-.!|<>~&", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cell keeps a table cell on one line (pipes are escaped by mdText).
func cell(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}

// unescapeMD drops Markdown's backslash escapes for the PDF, which prints text as it reads.
func unescapeMD(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		if r == '\\' && !esc {
			esc = true
			continue
		}
		esc = false
		b.WriteRune(r)
	}
	return b.String()
}

// HTML renders the agreement's Markdown as a standalone HTML page (GitHub-flavoured Markdown,
// raw HTML left out; CheckTemplate keeps it out of templates, so the HTML, PDF and Markdown
// renderings say the same).
func HTML(title, md string) ([]byte, error) {
	var body bytes.Buffer
	if err := markdown().Convert([]byte(md), &body); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n"+
		"<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3rem .5rem}</style>"+
		"</head><body>\n", htmlEscape(title))
	out.Write(body.Bytes())
	out.WriteString("</body></html>\n")
	return out.Bytes(), nil
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// PDF renders the agreement's Markdown as a PDF (github.com/go-pdf/fpdf, A4) in the Go fonts
// (golang.org/x/image/font/gofont, embedded as UTF-8 TrueType: Latin, Greek and Cyrillic, so
// Polish, Czech or Greek names print as written): headings bold, table rows as lines, other text
// wrapped.
//
// Text the fonts have no glyph for (Chinese, Japanese or Korean script, say) would print as empty
// boxes, leaving a party's name unreadable in a contract: that is an apperr.Invalid on field
// format, reason pdf_unprintable, and the HTML or Markdown rendering serves instead.
func PDF(title, markdown string) ([]byte, error) {
	if !printable(title + markdown) {
		return nil, apperr.Invalidf("format", ReasonPDFUnprintable, "format: the agreement holds characters the PDF fonts cannot print (for example Chinese, Japanese or Korean script); use format=html or format=md")
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes("Go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("Go", "B", gobold.TTF)
	tr := func(s string) string { return s } // UTF-8 fonts: text goes in as it is
	pdf.SetTitle(title, true)
	pdf.SetAutoPageBreak(true, 15)
	pdf.AddPage()
	for _, line := range strings.Split(markdown, "\n") {
		line = strings.TrimRight(line, " \t\r")
		switch {
		case strings.HasPrefix(line, "#"):
			level := len(line) - len(strings.TrimLeft(line, "#"))
			pdf.SetFont("Go", "B", float64(18-2*min(level, 4)))
			pdf.MultiCell(0, 8, tr(unescapeMD(strings.TrimSpace(strings.TrimLeft(line, "#")))), "", "L", false)
			pdf.Ln(1)
		case strings.HasPrefix(line, "|---"):
			// table rule: nothing to draw
		case strings.HasPrefix(line, "|"):
			pdf.SetFont("Go", "", 9)
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			for i := range cells {
				cells[i] = unescapeMD(strings.TrimSpace(cells[i]))
			}
			pdf.MultiCell(0, 5, tr(strings.Join(cells, "  ·  ")), "B", "L", false)
		case line == "":
			pdf.Ln(3)
		default:
			pdf.SetFont("Go", "", 11)
			pdf.MultiCell(0, 5.5, tr(unescapeMD(strings.ReplaceAll(line, "**", ""))), "", "L", false)
		}
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("dpa: pdf: %w", err)
	}
	return buf.Bytes(), nil
}

// ReasonPDFUnprintable: a PDF was asked for text the embedded fonts cannot print.
const ReasonPDFUnprintable = "pdf_unprintable"

var (
	goFontOnce sync.Once
	goFonts    []*sfnt.Font // regular and bold, as PDF embeds them
)

// printable reports whether every visible character of s has a glyph in both Go fonts.
func printable(s string) bool {
	goFontOnce.Do(func() {
		for _, ttf := range [][]byte{goregular.TTF, gobold.TTF} {
			if f, err := sfnt.Parse(ttf); err == nil {
				goFonts = append(goFonts, f)
			}
		}
	})
	var buf sfnt.Buffer
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			continue
		}
		for _, f := range goFonts {
			if i, err := f.GlyphIndex(&buf, r); err != nil || i == 0 {
				return false
			}
		}
	}
	return true
}
