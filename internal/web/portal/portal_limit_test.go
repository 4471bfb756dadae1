package portal_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestPortalSaysWhenNoLinkWasSent: found by a fresh-user trial. After three requests for one
// address in an hour (anyone can make them), the person's own request was recorded without a
// link while the page still said a link was on its way; and one client could post forms for
// any number of addresses. The page now says no new link was sent, and a client posts at most
// ten forms an hour.
func TestPortalSaysWhenNoLinkWasSent(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	for i := range 3 {
		if st, page := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"access"}, "email": {"target@example.org"}}); st != 200 || !strings.Contains(page, "Check your inbox") {
			t.Fatalf("request %d: %d %s", i+1, st, page)
		}
	}
	st, page := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"withdraw_consent"}, "email": {"Target@Example.org"}})
	if st != 200 || strings.Contains(page, "on its way") || !strings.Contains(page, "we sent no new one") {
		t.Errorf("fourth request for the address: %d %s; want the page to say no link was sent", st, page)
	}
	for i := 4; i < 10; i++ {
		if st, _ := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"access"}, "email": {"other" + strconv.Itoa(i) + "@example.org"}}); st != 200 {
			t.Fatalf("request %d: %d", i+1, st)
		}
	}
	if st, page := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {"access"}, "email": {"eleventh@example.org"}}); st != 429 || !strings.Contains(page, "try again") {
		t.Errorf("eleventh form from one client in an hour: %d %s; want 429", st, page)
	}
	// Every form was recorded but the refused one: staff see them waiting.
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	p.Do("GET", "/api/v1/requests?limit=100", nil, &list)
	if len(list.Items) != 10 {
		t.Errorf("requests recorded: %d; want 10", len(list.Items))
	}
}

// TestPortalRequestFormRefusesJSON: found by a trial. A JSON body was read as an empty form and
// answered "Please choose what you want us to do".
func TestPortalRequestFormRefusesJSON(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	resp, err := http.Post(p.Base+"/p/requests", "application/json", strings.NewReader(`{"type":"access","email":"a@example.org"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 || resp.Header.Get("Accept-Post") == "" {
		t.Errorf("JSON to /p/requests: %d %v; want 415 with Accept-Post", resp.StatusCode, resp.Header)
	}
}

// clientFrom returns an HTTP client whose connections come from the loopback address src
// (the whole of 127.0.0.0/8 is loopback on Linux), so a test can be two clients.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestSubscribeIsLimitedPerClient: found by a reliability trial (D6). One client posted 300
// addresses to /p/subscribe in 1.8 s: 300 confirmation mails and 300 leads. A client now signs
// up ten addresses an hour; the eleventh is 429 with Retry-After and stores nothing, while
// another client is unaffected.
func TestSubscribeIsLimitedPerClient(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	post := func(c *http.Client, email string) *http.Response {
		t.Helper()
		resp, err := c.Post(p.Base+"/p/subscribe", "application/json", strings.NewReader(`{"email":"`+email+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	one, two := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i := range 10 {
		if resp := post(one, "signup"+strconv.Itoa(i)+"@example.org"); resp.StatusCode != 202 {
			t.Fatalf("sign-up %d: %d; want 202", i+1, resp.StatusCode)
		}
	}
	resp := post(one, "eleventh@example.org")
	if wait, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || wait < 1 || wait > 3600 {
		t.Errorf("eleventh sign-up from one client: %d, Retry-After %q; want 429 within the hour", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := post(two, "other.client@example.org"); resp.StatusCode != 202 {
		t.Errorf("sign-up from another client: %d; want 202", resp.StatusCode)
	}
	var l apptest.List
	p.Do("GET", "/api/v1/contacts?kind=lead&limit=100", nil, &l)
	if len(l.Items) != 11 {
		t.Errorf("%d leads stored; want 11 (ten from the first client, one from the second)", len(l.Items))
	}
}
