package apptest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The API's answers as a client decodes them. The JSON names are spelled here, not taken from
// the api package's types, so that a renamed field fails the tests that read it.

// Contact is a contact as the API answers it.
type Contact struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Email     string   `json:"email"`
	FirstName string   `json:"first_name"`
	LastName  string   `json:"last_name"`
	Company   string   `json:"company"`
	Tags      []string `json:"tags"`
	Version   int      `json:"version"`
}

// List is a page of contacts.
type List struct {
	Items      []Contact `json:"items"`
	NextCursor string    `json:"next_cursor"`
}

// Problem is an RFC 9457 problem+json answer with Tillit's extension members.
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
	ID     string `json:"id"`
	Detail string `json:"detail"`
}

// Request is a data subject request as the API answers it.
type Request struct {
	ID            string     `json:"id"`
	Type          string     `json:"type"`
	State         string     `json:"state"`
	ContactID     string     `json:"contact_id"`
	Channel       string     `json:"channel"`
	DueAt         time.Time  `json:"due_at"`
	ExtendedUntil *time.Time `json:"extended_until"`
	Email         string     `json:"email"`
	Details       string     `json:"details"`
}

// ImportReport is an import's report as tillit import --json prints it and POST
// /api/v1/imports answers it.
type ImportReport struct {
	Rows              int `json:"rows"`
	Created           int `json:"created"`
	ConsentsRecorded  int `json:"consents_recorded"`
	Existing          int `json:"existing"`
	Suppressed        int `json:"suppressed"`
	SuppressionsAdded int `json:"suppressions_added"`
	SuppressionsKnown int `json:"suppressions_existing"`
	ListUnsub         int `json:"list_unsubscribes"`
	ListUnsubKnown    int `json:"list_unsubscribes_existing"`
	Requests          int `json:"requests"`
	Objections        int `json:"objections"`
	Expired           int `json:"expired"`
	Withdrawals       int `json:"withdrawals"`
	Outdated          int `json:"outdated_withdrawals"`
	Restricted        int `json:"restricted"`
	Refused           int `json:"refused"`
	Errors            []struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// Links in the mail Tillit sends: a double opt-in confirmation, a request's verification, an
// access bundle's download.
var (
	ConfirmLink  = regexp.MustCompile(`https?://[^\s]+/p/confirm/[A-Za-z0-9_-]+`)
	VerifyLink   = regexp.MustCompile(`https?://[^\s]+/p/requests/verify/[A-Za-z0-9_-]+`)
	DownloadLink = regexp.MustCompile(`https?://[^\s]+/p/requests/download/[A-Za-z0-9_-]+`)
)

// PostForm posts a form to a public page at base+path and returns the status and the page.
func PostForm(t testing.TB, base, path string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Browser is an HTTP client with a cookie jar that does not follow redirects, so the test sees
// each 303.
type Browser struct {
	// Client is the browser's HTTP client (its cookie jar included), for requests Get and Post
	// do not make.
	Client *http.Client
	t      testing.TB
	base   string
}

// NewBrowser returns a Browser for the server at base.
func NewBrowser(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, base: base, Client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Get fetches base+path and returns the status, the body and the headers.
func (b *Browser) Get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.Client.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// Post posts form to base+path with the headers hdr (name, value, name, value, …) and returns
// the status, the body and the headers.
func (b *Browser) Post(path string, form url.Values, hdr ...string) (int, string, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}
