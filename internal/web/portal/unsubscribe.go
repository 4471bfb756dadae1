package portal

import (
	"io"
	"net/http"

	"github.com/tillit/tillit/internal/optin"
)

// Unsubscribe serves the one-click unsubscribe links (RFC 8058). Fields are set by internal/app.
type Unsubscribe struct {
	Service *optin.Unsubscribe
	Pages   *Server
	IP      func(*http.Request) string
}

// Page serves GET /u/{token}: the scope in plain words and a button. It changes nothing, so a
// link scanner cannot unsubscribe anyone. A token that names nothing says so, without a button.
func (u *Unsubscribe) Page(w http.ResponseWriter, r *http.Request) {
	p, kind, ok, err := u.Service.Scope(r.Context(), r.PathValue("token"))
	if err != nil {
		u.Pages.fail(w, r, err)
		return
	}
	if !ok {
		u.invalid(w, r)
		return
	}
	if kind == optin.LinkRefuse {
		u.Pages.render(w, r, http.StatusOK, pageView{Title: "Do not ask me again", Paragraphs: []string{
			"Not interested in \u201c" + p.Name + "\u201d? Press the button and we record that you said no: we will not ask you for it again. Other mail you agreed to is not affected.",
		}, Form: &formView{Action: r.URL.Path, Button: "Do not ask me again"},
			Link: &linkView{Href: PreferencesPath(r.PathValue("token")), Text: "Choose which mail you receive"}})
		return
	}
	u.Pages.render(w, r, http.StatusOK, pageView{Title: "Unsubscribe", Paragraphs: []string{
		"Stop receiving \u201c" + p.Name + "\u201d? Press the button and it stops at once. Other mail you agreed to is not affected.",
	}, Form: &formView{Action: r.URL.Path, Button: "Unsubscribe"},
		Link: &linkView{Href: PreferencesPath(r.PathValue("token")), Text: "Choose which mail you receive"}})
}

// OneClick serves POST /u/{token}: it withdraws consent at once (a consent request's link
// refuses it), whatever the body (a form with List-Unsubscribe=One-Click, empty, text/plain),
// answers 200 without a redirect and is idempotent (RFC 8058 §3.2). It says "You are
// unsubscribed" only when the token named a person whose "no" is now on record; for a token
// that names nothing it says the link is not valid (RFC 8058 asks for no claim of success, and a
// page never claims a choice that was not recorded).
func (u *Unsubscribe) OneClick(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	ok, err := u.Service.Withdraw(r.Context(), r.PathValue("token"), u.IP(r), truncate(r.UserAgent(), 500), r.Header.Get("Sec-GPC") == "1")
	if err != nil {
		u.Pages.fail(w, r, err)
		return
	}
	if !ok {
		u.invalid(w, r)
		return
	}
	u.Pages.render(w, r, http.StatusOK, pageView{Title: "You are unsubscribed", Paragraphs: []string{
		"You will not receive this mail again, nor be asked for it. You can subscribe again at any time."},
		Link: &linkView{Href: PreferencesPath(r.PathValue("token")), Text: "Choose which mail you receive"}})
}

// invalid answers for a token that names nothing: not one of ours, or its person erased.
func (u *Unsubscribe) invalid(w http.ResponseWriter, r *http.Request) {
	u.Pages.render(w, r, http.StatusOK, pageView{Title: "Unsubscribe", Paragraphs: []string{
		"This link is not valid: nothing was changed. If you still receive mail from us, use the link in the latest message or write to us."}})
}
