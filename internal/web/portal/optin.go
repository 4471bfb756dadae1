package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/jsonin"
	"github.com/tillit/tillit/internal/optin"
)

// pageView is the view of a simple page: a title, paragraphs and at most one form.
type pageView struct {
	Title      string
	Paragraphs []string
	Form       *formView
	Choices    []choiceView // preference center rows, each with its own form
	Link       *linkView    // one link under the text
	// RequestForm is the data subject request intake form.
	RequestForm *requestFormView
	// DPAForm shows the DPA request form (the company's name).
	DPAForm bool
}

type choiceView struct {
	Action      string // form action (path)
	Purpose     string
	Name        string
	Description string
	Subscribed  bool
	Objected    bool       // the person objected (GDPR Art. 21): no subscribe button, how to undo it
	Hold        optin.Hold // a hold (consent.Facts.Hold; zero when none): no subscribe button, what it is and how it ends
	Consented   bool       // consent given on record: a held choice offers its withdrawal (GDPR Art. 7(3))
	Contact     string     // whom to write to about an objection or a hold
}

type linkView struct {
	Href, Text string
}

type formView struct {
	Action     string
	Button     string
	EmailField bool
	Purposes   []string
}

// Optin serves the double opt-in pages. Fields are set once by internal/app.
type Optin struct {
	Service *optin.Service
	Pages   *Server
	// TrustedProxies are the proxies whose X-Forwarded-For names the client; for any other peer
	// the connection's own address is the client's.
	TrustedProxies []netip.Prefix
	// Limit, when set, bounds the sign-ups one client address posts (SubscribesPerHour an
	// hour); beyond it POST /p/subscribe answers 429 with Retry-After, before reading the body.
	Limit *Limiter
}

// SubscribesPerHour bounds the sign-ups one client address posts in an hour: enough for a
// household or an office behind one address, too few to queue confirmation mail in bulk
// (a reliability trial posted 300 addresses in 1.8 s).
const SubscribesPerHour = 10

// SubscribeForm serves GET /p/subscribe: a form with an e-mail field (embeddable; ?purposes= picks
// the purposes, default newsletter).
func (o *Optin) SubscribeForm(w http.ResponseWriter, r *http.Request) {
	purposes := r.URL.Query()["purposes"]
	described, err := o.Service.Describe(r.Context(), purposes)
	if err != nil {
		o.Pages.fail(w, r, err)
		return
	}
	if len(described) == 0 || (len(purposes) > 0 && len(described) != len(purposes)) {
		// Every purpose the form would ask for must be named on it (GDPR Art. 4(11)).
		o.Pages.render(w, r, http.StatusBadRequest, unusableForm())
		return
	}
	v := pageView{Title: "Subscribe", Form: &formView{Action: "/p/subscribe", Button: "Subscribe", EmailField: true, Purposes: purposes}}
	v.Paragraphs = append(v.Paragraphs, purposeLines(described)...)
	v.Paragraphs = append(v.Paragraphs, "We send a link to this address; nothing is sent to you until you confirm. You can unsubscribe with one click in every message.")
	o.Pages.render(w, r, http.StatusOK, v)
}

// SignupAnswer is the page every sign-up gets, whatever the address's state (it must tell
// nothing about the address). It claims no message that was not sent: optin.Service.Subscribe
// queues a confirmation or a note for every sign-up except the rate-limited ones, and the page
// says when none comes.
var SignupAnswer = []string{
	"We are writing to this address about this sign-up: with a link to confirm it, or, if there is nothing to confirm, with a short note that says why.",
	"We write to one address at most once every two minutes. If we wrote to it in the last two minutes, no new message comes: use that one, or try again in a few minutes.",
}

// Subscribe serves POST /p/subscribe (form fields email, purposes, form_id; or JSON {email,
// purposes, form_id}). The answer is the same whatever the address's state: 202 with
// {"status":"check_your_inbox"} for JSON, a page for forms. A Sec-GPC: 1 header records an
// objection to sale-or-sharing purposes. Invalid input is 400 (JSON: problem+json); a client
// beyond its hourly share (Limit) is 429 with Retry-After in seconds, whatever the body.
func (o *Optin) Subscribe(w http.ResponseWriter, r *http.Request) {
	req := optin.Request{IP: o.ClientIP(r), UserAgent: truncate(r.UserAgent(), 500), GPC: r.Header.Get("Sec-GPC") == "1"}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	asJSON := mt == "application/json"
	if ok, wait := allow(o.Limit, o.ClientIP, r); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		if asJSON {
			writeProblem(w, http.StatusTooManyRequests, &apperr.Error{Kind: apperr.Invalid, Reason: "too_many_requests",
				Message: "too many sign-ups from your address; try again after Retry-After seconds"})
			return
		}
		o.Pages.render(w, r, http.StatusTooManyRequests, pageView{Title: "Please try again later", Paragraphs: []string{
			"Too many sign-ups came from your network in the last hour. Please try again in an hour."}})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if asJSON {
		var in struct {
			Email    string   `json:"email"`
			Purposes []string `json:"purposes"`
			FormID   string   `json:"form_id"`
		}
		body, err := io.ReadAll(r.Body)
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeProblem(w, http.StatusRequestEntityTooLarge, apperr.Invalidf("body", "too_large", "body: larger than 64 KiB"))
			return
		}
		if err != nil {
			writeProblem(w, http.StatusBadRequest, apperr.Invalidf("body", "unreadable", "body: could not be read"))
			return
		}
		if !utf8.Valid(body) {
			writeProblem(w, http.StatusBadRequest, apperr.Invalidf("body", "invalid_utf8", "body: not valid UTF-8"))
			return
		}
		if err := jsonin.Decode(body, &in); err != nil {
			e := apperr.As(err)
			if e == nil {
				e = apperr.Invalidf("body", "malformed_json", "body: a JSON object with email, purposes and form_id")
			}
			writeProblem(w, http.StatusBadRequest, e)
			return
		}
		req.Email, req.Purposes, req.FormID = in.Email, in.Purposes, in.FormID
	} else {
		err := r.ParseForm()
		if err == nil && mt == "multipart/form-data" {
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
		req.Email, req.Purposes, req.FormID = r.PostForm.Get("email"), r.PostForm["purposes"], r.PostForm.Get("form_id")
	}
	req.FormID = truncate(req.FormID, 100)
	if err := o.Service.Subscribe(r.Context(), req); err != nil {
		if e := apperr.As(err); e != nil && e.Kind == apperr.Invalid {
			if asJSON {
				writeProblem(w, http.StatusBadRequest, e)
				return
			}
			if e.Field != "email" {
				o.Pages.render(w, r, http.StatusBadRequest, unusableForm()) // no form to post the same purposes again
				return
			}
			o.Pages.render(w, r, http.StatusBadRequest, pageView{Title: "Please check the address", Paragraphs: []string{"That does not look like an e-mail address we can write to."},
				Form: &formView{Action: "/p/subscribe", Button: "Subscribe", EmailField: true, Purposes: req.Purposes}})
			return
		}
		o.Pages.fail(w, r, err)
		return
	}
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"status":"check_your_inbox"}` + "\n"))
		return
	}
	o.Pages.render(w, r, http.StatusOK, pageView{Title: "Check your inbox", Paragraphs: SignupAnswer})
}

// ConfirmPage serves GET /p/confirm/{token}: a page with a button when the token is usable, a
// neutral page otherwise. It changes nothing, so a link scanner cannot confirm.
func (o *Optin) ConfirmPage(w http.ResponseWriter, r *http.Request) {
	purposes, ok, err := o.Service.Peek(r.Context(), r.PathValue("token"))
	if err != nil {
		o.Pages.fail(w, r, err)
		return
	}
	if !ok {
		o.Pages.render(w, r, http.StatusOK, neutralPage())
		return
	}
	// Consent must be informed (GDPR Art. 4(11)): say what the button agrees to.
	v := pageView{Title: "Confirm your subscription", Paragraphs: []string{"Press the button to confirm that you want to receive:"},
		Form: &formView{Action: r.URL.Path, Button: "Confirm"}}
	v.Paragraphs = append(v.Paragraphs, purposeLines(purposes)...)
	v.Paragraphs = append(v.Paragraphs, "You can withdraw at any time with the link in every message. The privacy notice below says how we use your data.")
	o.Pages.render(w, r, http.StatusOK, v)
}

// Confirm serves POST /p/confirm/{token}.
func (o *Optin) Confirm(w http.ResponseWriter, r *http.Request) {
	res, err := o.Service.Confirm(r.Context(), r.PathValue("token"), o.ClientIP(r), truncate(r.UserAgent(), 500), r.Header.Get("Sec-GPC") == "1")
	if err != nil {
		o.Pages.fail(w, r, err)
		return
	}
	if res.Held != "" {
		o.Pages.render(w, r, http.StatusOK, pageView{Title: "Nothing was confirmed", Paragraphs: []string{
			optin.HeldNote(res.Held, "your confirmation", o.Service.PrivacyURL()), "Every message we send carries a link to unsubscribe with one click."}})
		return
	}
	if !res.Confirmed {
		o.Pages.render(w, r, http.StatusOK, neutralPage())
		return
	}
	o.Pages.render(w, r, http.StatusOK, pageView{Title: "Thank you", Paragraphs: []string{"Your subscription is confirmed. Every message carries a link to unsubscribe with one click."}})
}

func neutralPage() pageView {
	return pageView{Title: "This link cannot be used", Paragraphs: []string{"The link was used already or has expired. If you still want to subscribe, please sign up again."}}
}

// ClientIP is the connection's address, or the last X-Forwarded-For entry when the connection
// comes from a trusted proxy: the last entry of the last header line, the one the proxy wrote
// (a proxy that adds a line of its own leaves the earlier ones to the client).
func (o *Optin) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	for _, p := range o.TrustedProxies {
		if p.Contains(peer) {
			lines := r.Header.Values("X-Forwarded-For")
			if len(lines) == 0 {
				break
			}
			parts := strings.Split(lines[len(lines)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return a.String()
			}
		}
	}
	return peer.String()
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v pageView) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "page.html", v); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Referrer-Policy", "no-referrer") // confirmation tokens must not leak in Referer
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.Logger.ErrorContext(r.Context(), "portal page", slog.Any("error", err))
	http.Error(w, "Something went wrong on our side. Please try again later.", http.StatusInternalServerError)
}

// writeProblem answers an RFC 9457 problem naming the field at fault.
func writeProblem(w http.ResponseWriter, status int, e *apperr.Error) {
	code := "invalid"
	if status == http.StatusTooManyRequests {
		code = "too_many_requests"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "field": e.Field, "reason": e.Reason, "detail": e.Message})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// purposeLines names each purpose with its description, one paragraph each: what a person agrees
// to (consent must be informed, GDPR Art. 4(11)).
func purposeLines(ps []consent.Purpose) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		line := "\u201c" + p.Name + "\u201d"
		if p.Description != "" {
			line += ": " + p.Description
		}
		out = append(out, line)
	}
	return out
}

// unusableForm is the page for a subscription form asking for purposes we do not offer.
func unusableForm() pageView {
	return pageView{Title: "This form cannot be used", Paragraphs: []string{"The form asks for a kind of mail we do not offer. Please tell the site that sent you here."}}
}
