package cli_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestPortalSaysWhenNoLinkWasSent: found by a fresh-user trial. After three requests for one
// address in an hour (anyone can make them), the person's own request was recorded without a
// link while the page still said a link was on its way; and one client could post forms for
// any number of addresses. The page now says no new link was sent, and a client posts at most
// ten forms an hour.
func TestPortalSaysWhenNoLinkWasSent(t *testing.T) {
	p := startProgram(t, t.TempDir())
	for i := range 3 {
		if st, page := postForm(t, p.base, "/p/requests", url.Values{"type": {"access"}, "email": {"target@example.org"}}); st != 200 || !strings.Contains(page, "Check your inbox") {
			t.Fatalf("request %d: %d %s", i+1, st, page)
		}
	}
	st, page := postForm(t, p.base, "/p/requests", url.Values{"type": {"withdraw_consent"}, "email": {"Target@Example.org"}})
	if st != 200 || strings.Contains(page, "on its way") || !strings.Contains(page, "we sent no new one") {
		t.Errorf("fourth request for the address: %d %s; want the page to say no link was sent", st, page)
	}
	for i := 4; i < 10; i++ {
		if st, _ := postForm(t, p.base, "/p/requests", url.Values{"type": {"access"}, "email": {"other" + strconv.Itoa(i) + "@example.org"}}); st != 200 {
			t.Fatalf("request %d: %d", i+1, st)
		}
	}
	if st, page := postForm(t, p.base, "/p/requests", url.Values{"type": {"access"}, "email": {"eleventh@example.org"}}); st != 429 || !strings.Contains(page, "try again") {
		t.Errorf("eleventh form from one client in an hour: %d %s; want 429", st, page)
	}
	// Every form was recorded but the refused one: staff see them waiting.
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	p.do("GET", "/api/v1/requests?limit=100", nil, &list)
	if len(list.Items) != 10 {
		t.Errorf("requests recorded: %d; want 10", len(list.Items))
	}
}

// TestPortalRequestFormRefusesJSON: found by a trial. A JSON body was read as an empty form and
// answered "Please choose what you want us to do".
func TestPortalRequestFormRefusesJSON(t *testing.T) {
	p := startProgram(t, t.TempDir())
	resp, err := http.Post(p.base+"/p/requests", "application/json", strings.NewReader(`{"type":"access","email":"a@example.org"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 || resp.Header.Get("Accept-Post") == "" {
		t.Errorf("JSON to /p/requests: %d %v; want 415 with Accept-Post", resp.StatusCode, resp.Header)
	}
}
