package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tillit/tillit/internal/optin"
)

// Preferences serves the preference center: every consent-based purpose with the person's current
// choice, reached from the link in their own mail (the unsubscribe token is the capability). Fields
// are set by internal/app.
type Preferences struct {
	Service *optin.Service
	Pages   *Server
	IP      func(*http.Request) string
}

// PreferencesPath is the preference center's path for an unsubscribe token.
func PreferencesPath(token string) string { return "/p/preferences/" + url.PathEscape(token) }

// Page serves GET /p/preferences/{token}. It changes nothing (a link scanner may fetch it) and
// says nothing of an earlier change: only the POST that made it does (show).
func (p *Preferences) Page(w http.ResponseWriter, r *http.Request) {
	p.show(w, r, r.PathValue("token"), optin.Change{})
}

// show renders the preference center of token, saying what out, the outcome of the change this
// request made, did. Nothing in a URL can make the page claim a change or a mail (a crafted
// ?done=confirm once showed "We sent you a message" for none; adversarial review of issue 11).
func (p *Preferences) show(w http.ResponseWriter, r *http.Request, token string, ch optin.Change) {
	choices, ok, err := p.Service.Preferences(r.Context(), token)
	if err != nil {
		p.Pages.fail(w, r, err)
		return
	}
	if !ok {
		p.Pages.render(w, r, http.StatusOK, pageView{Title: "Your mail preferences", Paragraphs: []string{
			"This link is not valid any more. Use the link in the latest message or write to us."}})
		return
	}
	v := pageView{Title: "Your mail preferences", Paragraphs: []string{
		"Choose what we may send you. Unsubscribing takes effect at once; subscribing sends you a message to confirm."}}
	// Each outcome's own words, and only for what happened (no page claims a mail that was not
	// sent); a subscription that needed nothing shows in the choices below.
	switch ch.Outcome {
	case optin.OutcomeConfirm:
		v.Paragraphs = append(v.Paragraphs, "Thank you. We sent you a message to confirm; it starts when you press the button in it.")
	case optin.OutcomeRateLimited:
		v.Paragraphs = append(v.Paragraphs, rateLimitedWords(ch))
	case optin.OutcomeWithdrawn:
		v.Paragraphs = append(v.Paragraphs, "Done: you are unsubscribed from it.")
	}
	if len(choices) == 0 {
		v.Paragraphs = append(v.Paragraphs, "We send no mail that needs your consent.")
	}
	for _, c := range choices {
		contact := p.Pages.Controller.DPOEmail
		if contact == "" {
			contact = p.Pages.Controller.Email
		}
		v.Choices = append(v.Choices, choiceView{Action: r.URL.Path, Purpose: c.ID, Name: c.Name, Description: c.Description, Subscribed: c.Subscribed,
			Objected: c.Objected, Hold: optin.HoldWords(c.Hold), Consented: c.Consented, Contact: contact})
	}
	p.Pages.render(w, r, http.StatusOK, v)
}

// Change serves POST /p/preferences/{token} with form fields purpose and action
// ("unsubscribe" or "subscribe"), and answers with the page itself, saying what happened
// (withdrawn; confirm: a confirmation was sent; rate_limited: none was). An unknown token,
// purpose or action changes nothing and shows the page as it is.
func (p *Preferences) Change(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.Pages.render(w, r, http.StatusBadRequest, pageView{Title: "Your mail preferences", Paragraphs: []string{"The form could not be read. Please try again."}})
		return
	}
	token := r.PathValue("token")
	ch, err := p.Service.ChangePreference(r.Context(), token, r.PostForm.Get("purpose"), r.PostForm.Get("action"),
		p.IP(r), truncate(r.UserAgent(), 500), r.Header.Get("Sec-GPC") == "1")
	if err != nil {
		p.Pages.fail(w, r, err)
		return
	}
	p.show(w, r, token, ch)
}

// rateLimitedWords says, for a subscription that sent nothing because a sign-up message went
// out less than two minutes ago, what that message asks to confirm and when to ask again: it
// points to that message only when it confirms the purpose asked for (a page never sends the
// person to a mail that does not do what they asked).
func rateLimitedWords(ch optin.Change) string {
	name := "\u201c" + ch.Purpose + "\u201d"
	switch {
	case slices.Contains(ch.Sent, ch.Purpose):
		return fmt.Sprintf("We wrote to you less than two minutes ago to confirm %s, so no new message was sent: press the button in that message.", name)
	case len(ch.Sent) > 0:
		return fmt.Sprintf("We wrote to you less than two minutes ago to confirm %s only, so no new message was sent; that message does not subscribe you to %s. To receive %s, choose it here again in %s.",
			quotedList(ch.Sent), name, name, minutes(ch.Wait))
	}
	return fmt.Sprintf("We wrote to you less than two minutes ago, so no new message was sent and nothing changed. To receive %s, choose it here again in %s.", name, minutes(ch.Wait))
}

// minutes is d in whole minutes, rounded up: "1 minute", "2 minutes".
func minutes(d time.Duration) string {
	n := int((d + time.Minute - 1) / time.Minute)
	if n <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// quotedList joins names in quotes as a sentence does: "“a”", "“a” and “b”", "“a”, “b” and “c”".
func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "\u201c" + n + "\u201d"
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
