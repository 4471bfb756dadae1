package apptest

import (
	"archive/zip"
	"bytes"
	"encoding/json"
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
	OutdatedSups      int `json:"outdated_suppressions"`
	Restricted        int `json:"restricted"`
	Refused           int `json:"refused"`
	// UnmappedColumns names the file's columns no field took (a sum lists every file's).
	UnmappedColumns []string `json:"unmapped_columns"`
	Errors          []struct {
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

// Client calls a Tillit server at Base with the bearer token Token (a Server's, or a tillit
// serve's started otherwise). Methods fail the test on a transport error.
type Client struct {
	Base  string
	Token string
	t     testing.TB
}

// NewClient returns a Client for the server at base with the admin token token.
func NewClient(t testing.TB, base, token string) *Client {
	return &Client{Base: base, Token: token, t: t}
}

// Do sends a request with the admin token (Token) and decodes a JSON answer into out (when
// non-nil); it returns the status code. body, when non-nil, is sent as JSON.
func (p *Client) Do(method, path string, body, out any) int {
	p.t.Helper()
	return p.DoAs(p.Token, method, path, body, out)
}

// DoAs is Do with the bearer token secret ("" sends no Authorization header).
func (p *Client) DoAs(secret, method, path string, body, out any) int {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.Base+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// Post sends a raw body to an API route with the admin token and wants 200.
func (p *Client) Post(path, ctype, body string) {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.Base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		p.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

// Bounce posts a hard bounce (RFC 3464, status 5.1.1) for email to /api/v1/mail-reports.
func (p *Client) Bounce(email string) {
	p.Post("/api/v1/mail-reports", "message/rfc822", "From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"+
		"Final-Recipient: rfc822; "+email+"\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n")
}

// Complain posts an abuse complaint (RFC 5965) about mail to email to /api/v1/mail-reports.
func (p *Client) Complain(email string) {
	p.Post("/api/v1/mail-reports", "message/rfc822", "From: abuse@mailbox.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=c\r\n\r\n"+
		"--c\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n--c\r\nContent-Type: message/rfc822\r\n\r\nTo: <"+email+">\r\nSubject: news\r\n\r\nhi\r\n--c--\r\n")
}

// ImportCSV posts body as a text/csv import (POST /api/v1/imports?query, with the admin token)
// and decodes the report into report: the answer itself, or, when the import stopped, the
// problem's report member. It returns the status.
func (p *Client) ImportCSV(query, body string, report any) int {
	p.t.Helper()
	req, err := http.NewRequest("POST", p.Base+"/api/v1/imports?"+query, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		json.Unmarshal(b, &struct {
			Report any `json:"report"`
		}{report})
		return resp.StatusCode
	}
	if err := json.Unmarshal(b, report); err != nil {
		p.t.Fatalf("report %q: %v", b, err)
	}
	return resp.StatusCode
}

// Unzip reads a zip archive (an access bundle) and returns its files' names in archive order
// and their bytes by name.
func Unzip(t testing.TB, b []byte) (names []string, files map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	files = map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		files[f.Name] = data
	}
	return names, files
}

// Check asks the consent gate (POST /api/v1/consent-checks) about who (contact_id or email)
// and purpose, and returns its answer; any status but 200 fails the test.
func (p *Client) Check(who map[string]string, purpose string) (allowed bool, reason string) {
	p.t.Helper()
	body := map[string]string{"purpose": purpose}
	for k, v := range who {
		body[k] = v
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if st := p.Do("POST", "/api/v1/consent-checks", body, &d); st != 200 {
		p.t.Fatalf("consent check %v for %s: %d", who, purpose, st)
	}
	return d.Allowed, d.Reason
}

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
