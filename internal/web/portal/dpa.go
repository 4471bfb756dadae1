package portal

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/governance"
)

// DPA serves the public DPA request (GDPR Art. 28(3)): a customer names its company, gets the
// agreement rendered at once (HTML, with a PDF link), and the request is tracked in the staff
// API. Fields are set once by internal/app.
type DPA struct {
	Service *governance.DPAs
	Pages   *Server
	// IP returns the client's address (the same rule as the other public forms).
	IP func(*http.Request) string
	// Limit, when set with IP, bounds the requests one client address makes (DPAPerHour an
	// hour); beyond it the answer is 429 with Retry-After.
	Limit *Limiter
}

// DPAPerHour bounds the DPA requests one client address makes in an hour.
const DPAPerHour = 10

// notConfigured is the page while the controller's details are missing: an agreement would name
// no controller (governance.DPAs.Ready).
func (d *DPA) notConfigured(w http.ResponseWriter, r *http.Request) {
	d.Pages.render(w, r, http.StatusConflict, pageView{Title: "Data processing agreement", Paragraphs: []string{
		"Our agreement cannot be drawn up yet: our company's name and address are not set up in this service. Please ask us for it by e-mail.",
	}})
}

// Form serves GET /p/dpa (the notConfigured page while the controller is not configured).
func (d *DPA) Form(w http.ResponseWriter, r *http.Request) {
	if err := d.Service.Ready(); err != nil {
		d.notConfigured(w, r)
		return
	}
	d.Pages.render(w, r, http.StatusOK, pageView{Title: "Data processing agreement", Paragraphs: []string{
		"Customers who have us process personal data on their behalf sign a data processing agreement (GDPR Art. 28(3)). Name your company to get ours, filled in, with the current list of our sub-processors.",
	}, DPAForm: true})
}

// Request serves POST /p/dpa (form field customer): records the request and shows the agreement.
func (d *DPA) Request(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, "The form could not be read.", status)
		return
	}
	if ok, wait := allow(d.Limit, d.IP, r); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		d.Pages.render(w, r, http.StatusTooManyRequests, pageView{Title: "Data processing agreement", Paragraphs: []string{"Too many requests from your address. Please try again in an hour."}})
		return
	}
	ctx := audit.WithActor(r.Context(), audit.Actor{Kind: audit.ActorPublic, ID: "dpa"})
	req, err := d.Service.Request(ctx, r.PostForm.Get("customer"))
	if e := apperr.As(err); e != nil && e.Reason == governance.ReasonControllerNotConfigured {
		d.notConfigured(w, r)
		return
	}
	if e := apperr.As(err); e != nil && (e.Kind == apperr.Invalid || e.Kind == apperr.Conflict) {
		msg := "Please give your company's name."
		if e.Kind == apperr.Conflict {
			msg = "Our agreement is not published yet. Please ask us by e-mail."
		}
		d.Pages.render(w, r, http.StatusBadRequest, pageView{Title: "Data processing agreement", Paragraphs: []string{msg}, DPAForm: e.Kind == apperr.Invalid})
		return
	}
	if err != nil {
		d.Pages.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/p/dpa/"+url.PathEscape(req.ID), http.StatusSeeOther)
}

// Document serves GET /p/dpa/{id}: the agreement of a request as HTML, or ?format=pdf.
func (d *DPA) Document(w http.ResponseWriter, r *http.Request) {
	md, err := d.Service.Document(r.Context(), r.PathValue("id"))
	if apperr.Is(err, apperr.NotFound) {
		http.NotFound(w, r)
		return
	}
	if e := apperr.As(err); e != nil && e.Reason == governance.ReasonControllerNotConfigured {
		d.notConfigured(w, r)
		return
	}
	if err != nil {
		d.Pages.fail(w, r, err)
		return
	}
	title := "Data processing agreement"
	if r.URL.Query().Get("format") == "pdf" {
		b, err := governance.PDF(title, md)
		if e := apperr.As(err); e != nil && e.Reason == governance.ReasonPDFUnprintable {
			d.Pages.render(w, r, http.StatusBadRequest, pageView{Title: "Data processing agreement", Paragraphs: []string{
				"The agreement holds characters our PDF fonts cannot print (for example Chinese, Japanese or Korean script). Please print the agreement page from your browser instead.",
			}, Link: &linkView{Href: r.URL.Path, Text: "Back to the agreement"}})
			return
		}
		if err != nil {
			d.Pages.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="dpa.pdf"`)
		w.Write(b)
		return
	}
	md += "\n\n---\n\n[Download as PDF](?format=pdf)\n"
	b, err := governance.HTML(title, md)
	if err != nil {
		d.Pages.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", documentCSP)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Write(b)
}
