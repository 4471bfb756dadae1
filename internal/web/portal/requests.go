package portal

import (
	"errors"
	"mime"
	"net/http"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/dsr"
)

// Requests serves the data subject request pages. Fields are set once by internal/app.
type Requests struct {
	Service *dsr.Service
	Pages   *Server
	// IP returns the client's address (the same rule as the other public forms); with it and
	// Limit, one client may post RequestsPerHour forms an hour, so nobody can use up the
	// verification links of many addresses or mail them in bulk.
	IP    func(*http.Request) string
	Limit *Limiter
}

// RequestsPerHour bounds the request forms one client address posts in an hour.
const RequestsPerHour = 10

// requestFormView is the intake form: one choice per right, the address, optional details.
type requestFormView struct {
	Types   []typeOption
	Type    string // preselected
	Details string
}

type typeOption struct {
	Value, Label string
}

func (q *Requests) form(selected, details string) *requestFormView {
	f := &requestFormView{Type: selected, Details: details}
	for _, t := range dsr.Types {
		f.Types = append(f.Types, typeOption{Value: string(t), Label: "I want to " + t.Choice() + " (GDPR " + t.Article() + ")"})
	}
	return f
}

// Form serves GET /p/requests: the intake form (?type= preselects a right).
func (q *Requests) Form(w http.ResponseWriter, r *http.Request) {
	q.Pages.render(w, r, http.StatusOK, pageView{Title: "Your privacy rights", Paragraphs: []string{
		"Ask us to show, correct, erase, restrict or hand over the personal data we hold about you, to object to its use, or to withdraw consent.",
		"We send a link to the address you give. Nothing about you is shown or changed until you open it, and we answer within one month of receiving your request (GDPR Art. 12(3)).",
	}, RequestForm: q.form(r.URL.Query().Get("type"), "")})
}

// Submit serves POST /p/requests (form fields type, email, details). The page is the same whether
// or not the address is known; invalid input shows the form again naming the field at fault.
func (q *Requests) Submit(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
		// A JSON body would read as an empty form ("choose what you want"): say what is taken.
		w.Header().Set("Accept-Post", "application/x-www-form-urlencoded, multipart/form-data")
		q.Pages.render(w, r, http.StatusUnsupportedMediaType, pageView{Title: "Please use the form", Paragraphs: []string{
			"This page takes the request form (application/x-www-form-urlencoded or multipart/form-data). Integrations record requests with POST /api/v1/requests.",
		}, RequestForm: q.form("", "")})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	err := r.ParseForm()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		err = r.ParseMultipartForm(64 << 10)
	}
	if err != nil {
		status := http.StatusBadRequest
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, "The form could not be read.", status)
		return
	}
	if ok, wait := allow(q.Limit, q.IP, r); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		q.Pages.render(w, r, http.StatusTooManyRequests, pageView{Title: "Please try again later", Paragraphs: []string{
			"Too many requests came from your network in the last hour. Please try again in an hour, or write to us by e-mail or letter: a request reaches us however it is sent.",
		}})
		return
	}
	in := dsr.Intake{Type: dsr.Type(r.PostForm.Get("type")), Email: r.PostForm.Get("email"), Details: r.PostForm.Get("details")}
	sent, err := q.Service.SubmitForm(r.Context(), in)
	if err != nil {
		if e := apperr.As(err); e != nil && e.Kind == apperr.Invalid {
			msg := map[string]string{
				"type":    "Please choose what you want us to do.",
				"email":   "That does not look like an e-mail address we can write to.",
				"details": "The details could not be read: please write them again.",
			}[e.Field]
			if e.Field == "details" && e.Reason == "too_long" {
				msg = "The details are too long: please keep them under 4,000 characters."
			}
			if msg == "" {
				msg = "The form could not be used: " + e.Field + "."
			}
			// The address is not put back into the page: it would sit in the browser's history.
			q.Pages.render(w, r, http.StatusBadRequest, pageView{Title: "Please check the form", Paragraphs: []string{msg}, RequestForm: q.form(string(in.Type), in.Details)})
			return
		}
		q.Pages.fail(w, r, err)
		return
	}
	if !sent {
		// The address had its hourly share of links, whoever asked for them; saying so tells
		// nothing about whether we know the address.
		q.Pages.render(w, r, http.StatusOK, pageView{Title: "Your request is recorded", Paragraphs: []string{
			"Several links were sent to this address in the last hour, so we sent no new one. If one of them reached you, open it to confirm; otherwise our staff will contact you at this address, or send the form again in an hour.",
			"Nothing about you is shown or changed before your identity is confirmed, and the one-month answer time runs from today (GDPR Art. 12(3)).",
		}})
		return
	}
	q.Pages.render(w, r, http.StatusOK, pageView{Title: "Check your inbox", Paragraphs: []string{
		"If this address can receive our mail, a message with a link is on its way. Open it to confirm that the request is yours; the link works once and expires in 72 hours.",
		"Nothing about you is shown or changed before you confirm.",
	}})
}

// VerifyPage serves GET /p/requests/verify/{token}: a page with a button. It changes nothing, so
// a link scanner cannot verify a request.
func (q *Requests) VerifyPage(w http.ResponseWriter, r *http.Request) {
	q.Pages.render(w, r, http.StatusOK, pageView{Title: "Confirm your request", Paragraphs: []string{
		"Press the button to confirm that you made this privacy request. We then act on the personal data linked to the address this link was sent to, and nothing else.",
	}, Form: &formView{Action: r.URL.Path, Button: "Confirm my request"}})
}

// Verify serves POST /p/requests/verify/{token}.
func (q *Requests) Verify(w http.ResponseWriter, r *http.Request) {
	res, err := q.Service.VerifyLink(r.Context(), r.PathValue("token"))
	if err != nil {
		q.Pages.fail(w, r, err)
		return
	}
	if !res.Verified {
		q.Pages.render(w, r, http.StatusOK, pageView{Title: "This link cannot be used", Paragraphs: []string{
			"The link was used already or has expired. If you still want to make a request, please send the form again.",
		}, Link: &linkView{Href: "/p/requests", Text: "Make a privacy request"}})
		return
	}
	if res.Completed {
		q.Pages.render(w, r, http.StatusOK, pageView{Title: "Thank you", Paragraphs: []string{
			"Your request to " + res.Type.Label() + " is confirmed and done. We have sent the answer to the address the link came to.",
		}})
		return
	}
	paras := []string{"Your request to " + res.Type.Label() + " is confirmed. We will answer by " + res.Deadline.UTC().Format("2 January 2006") + " at the latest, by e-mail to this address."}
	if res.Objected {
		paras = append(paras, "We no longer use your data for direct marketing of any kind, from now on (GDPR Art. 21(3)).")
	}
	if res.OnHold {
		paras = append(paras, "From now on, until we have answered, we send you no marketing and share none of your data with other companies.")
	}
	q.Pages.render(w, r, http.StatusOK, pageView{Title: "Thank you", Paragraphs: paras})
}

// DownloadPage serves GET /p/requests/download/{token}: a page with a download button. It changes
// nothing, so a link scanner cannot use up the single-use link.
func (q *Requests) DownloadPage(w http.ResponseWriter, r *http.Request) {
	ok, err := q.Service.DownloadReady(r.Context(), r.PathValue("token"))
	if err != nil {
		q.Pages.fail(w, r, err)
		return
	}
	if !ok {
		q.Pages.render(w, r, http.StatusOK, downloadGone())
		return
	}
	q.Pages.render(w, r, http.StatusOK, pageView{Title: "Your data", Paragraphs: []string{
		"Your personal data is ready as one zip file. The link works once: after the download it is gone, so keep the file somewhere safe.",
	}, Form: &formView{Action: r.URL.Path, Button: "Download my data (zip)"}})
}

// Download serves POST /p/requests/download/{token}: the zip, once.
func (q *Requests) Download(w http.ResponseWriter, r *http.Request) {
	zip, ok, err := q.Service.Download(r.Context(), r.PathValue("token"))
	if err != nil {
		q.Pages.fail(w, r, err)
		return
	}
	if !ok {
		q.Pages.render(w, r, http.StatusOK, downloadGone())
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="personal-data.zip"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Write(zip)
}

func downloadGone() pageView {
	return pageView{Title: "This link cannot be used", Paragraphs: []string{
		"The download link was used already or has expired. You can ask for your data again at any time.",
	}, Link: &linkView{Href: "/p/requests?type=access", Text: "Ask for your data"}}
}
