package portal_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestTrustedProxyIP: the opt-in evidence takes X-Forwarded-For only from a configured proxy.
func TestTrustedProxyIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		trusted, want string
	}{{"127.0.0.1", "203.0.113.9"}, {"", "127.0.0.1"}, {"10.0.0.0/8", "127.0.0.1"}} {
		p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_TRUSTED_PROXIES": tc.trusted}))
		req, _ := http.NewRequest("POST", p.Base+"/p/subscribe", strings.NewReader(`{"email":"proxied@example.org"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("subscribe: %v %v", resp, err)
		}
		var l apptest.List
		p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "proxied@example.org"}, &l)
		var ledger struct {
			Events []struct {
				Evidence struct {
					IP string `json:"ip"`
				} `json:"evidence"`
			} `json:"events"`
		}
		p.Do("GET", "/api/v1/contacts/"+l.Items[0].ID+"/consents", nil, &ledger)
		if len(ledger.Events) != 1 || ledger.Events[0].Evidence.IP != tc.want {
			t.Errorf("trusted %q: evidence %+v; want IP %s", tc.trusted, ledger.Events, tc.want)
		}
		p.Close()
	}
}
