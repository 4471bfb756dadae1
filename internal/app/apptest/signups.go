package apptest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/store"
)

// Signups is a Server with a real SMTP sink (one session, so messages arrive in the order they
// were queued; mail from news@tillit.example) whose sign-ups each come from their own client
// address (a trusted proxy's X-Forwarded-For), so the per-client limit of /p/subscribe does not
// interfere. Its methods drive the public pages and the API as the sign-up scenarios need.
type Signups struct {
	P    *Server
	Sink *SMTPSink
	t    testing.TB
	n    int // sign-ups posted: the next client address
}

// NewSignups starts a Signups that runs until the test ends.
func NewSignups(t testing.TB) *Signups {
	t.Helper()
	sink := SMTP(t)
	p := Serve(t, Env(map[string]string{
		"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none&sessions=1", "TILLIT_MAIL_FROM": "news@tillit.example",
		"TILLIT_TRUSTED_PROXIES": "127.0.0.1",
	}))
	return &Signups{t: t, P: p, Sink: sink}
}

// Subscribe posts the public sign-up form for email and returns the page's text.
func (r *Signups) Subscribe(email string, purposes ...string) string {
	r.t.Helper()
	r.n++
	form := url.Values{"email": {email}, "purposes": purposes}
	req, _ := http.NewRequest("POST", r.P.Base+"/p/subscribe", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", r.n/250, r.n%250+1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		r.t.Fatalf("POST /p/subscribe: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// Mailed returns the messages delivered to email since the last call: it signs up a fresh
// sentinel address and reads the sink until the sentinel's confirmation arrives, so a message
// that was never queued shows at once as missing. Any message to a third address fails the test.
func (r *Signups) Mailed(email string) []Delivered {
	r.t.Helper()
	sentinel := fmt.Sprintf("sentinel-%d@example.net", r.n)
	r.Subscribe(sentinel)
	var out []Delivered
	for {
		d := r.Sink.Next(r.t)
		switch {
		case len(d.To) == 1 && d.To[0] == sentinel:
			return out
		case len(d.To) == 1 && d.To[0] == email:
			out = append(out, d)
		default:
			r.t.Fatalf("a message to %v; want only %s or the sentinel", d.To, email)
		}
	}
}

// Confirmation checks that msgs is one confirmation mail and returns its link.
func (r *Signups) Confirmation(what string, msgs []Delivered) string {
	r.t.Helper()
	if len(msgs) != 1 {
		r.t.Fatalf("%s: %d messages; want one confirmation", what, len(msgs))
	}
	msg, text := ParseMessage(r.t, msgs[0])
	link := ConfirmLink.FindString(text)
	if msg.Header.Get("Subject") != "Please confirm your subscription" || link == "" {
		r.t.Fatalf("%s: message %q %q; want a confirmation with its link", what, msg.Header.Get("Subject"), text)
	}
	return link
}

// Gate asks the consent check for contactID and purpose and returns its reason.
func (r *Signups) Gate(contactID, purpose string) string {
	r.t.Helper()
	var d struct {
		Reason string `json:"reason"`
	}
	if st := r.P.Do("POST", "/api/v1/consent-checks", map[string]string{"contact_id": contactID, "purpose": purpose}, &d); st != 200 {
		r.t.Fatalf("consent check: %d", st)
	}
	return d.Reason
}

// Lookup returns the id of the one contact with the address email.
func (r *Signups) Lookup(email string) string {
	r.t.Helper()
	var l List
	r.P.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": email}, &l)
	if len(l.Items) != 1 {
		r.t.Fatalf("lookup %s: %d contacts", email, len(l.Items))
	}
	return l.Items[0].ID
}

// Subscriber creates a contact with consent given for the newsletter and returns its id.
func (r *Signups) Subscriber(email string) string {
	r.t.Helper()
	var c Contact
	if st := r.P.Do("POST", "/api/v1/contacts", map[string]any{"email": email}, &c); st != 201 {
		r.t.Fatalf("create %s: %d", email, st)
	}
	if st := r.P.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil); st != 201 {
		r.t.Fatalf("consent for %s: %d", email, st)
	}
	return c.ID
}

// Post sends a raw body to an API route with the admin token and wants 200 (Server.Post).
func (r *Signups) Post(path, ctype, body string) { r.P.Post(path, ctype, body) }

// Bounce posts a hard bounce for email (Server.Bounce).
func (r *Signups) Bounce(email string) { r.P.Bounce(email) }

// Complain posts an abuse complaint about mail to email (Server.Complain).
func (r *Signups) Complain(email string) { r.P.Complain(email) }

// ImportMailchimp imports csv as a Mailchimp export through POST /api/v1/imports.
func (r *Signups) ImportMailchimp(csv string) {
	r.Post("/api/v1/imports?format=mailchimp", "text/csv", csv)
}

// PreferencesLink mints the unsubscribe token a marketing message would have carried and returns
// the person's preference center.
func (r *Signups) PreferencesLink(contactID string) string {
	r.t.Helper()
	a := r.P.App
	var l optin.Links
	err := a.Store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		l, err = a.Unsubscribe.MintIn(context.Background(), tx, contactID, "newsletter", "")
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return l.Preferences
}

// Choose posts a choice on the preference center and returns the page it leads to.
func (r *Signups) Choose(prefs, purpose, action string) string {
	r.t.Helper()
	resp, err := http.PostForm(prefs, url.Values{"purpose": {purpose}, "action": {action}})
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		r.t.Fatalf("preference change: %d %s", resp.StatusCode, b)
	}
	return string(b)
}
