package dsr_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestEveryRightThroughPortalAndAPI runs each request type end to end: the person asks on the
// portal and confirms the e-mailed link; access, portability and withdrawal are answered at
// once, the others are completed by staff through the API; the effect is checked through the
// API and the answer arrives over SMTP.
func TestEveryRightThroughPortalAndAPI(t *testing.T) {
	t.Parallel()
	sink := apptest.SMTP(t)
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_SMTP_URL": "smtp://" + sink.Addr + "?tls=none", "TILLIT_MAIL_FROM": "privacy@tillit.example"}))
	p.Do("POST", "/api/v1/purposes", map[string]any{"id": "profiling", "name": "Product analytics", "lawful_basis": "dpv:LegitimateInterest"}, nil)
	type consentsJSON struct {
		Current []struct {
			Purpose, State string
		} `json:"current"`
		Objections []struct{ Scope string } `json:"objections"`
	}
	cases := []struct {
		typ      string
		complete map[string]any // nil: answered at once after the link
		answer   string         // in the answer mail
		check    func(t *testing.T, id, addr string)
	}{
		{"access", nil, "/p/requests/download/", nil},
		{"portability", nil, "/p/requests/download/", nil},
		{"withdraw_consent", nil, "Your consent is withdrawn for: newsletter", func(t *testing.T, id, addr string) {
			var l consentsJSON
			p.Do("GET", "/api/v1/contacts/"+id+"/consents", nil, &l)
			if len(l.Current) != 1 || l.Current[0].State != "dpv:ConsentWithdrawn" {
				t.Errorf("consent after withdrawal: %+v", l.Current)
			}
		}},
		{"rectification", map[string]any{"changes": map[string]any{"last_name": "Lind", "title": nil}}, "We corrected these fields: last_name, title", func(t *testing.T, id, addr string) {
			var c apptest.Contact
			p.Do("GET", "/api/v1/contacts/"+id, nil, &c)
			if c.LastName != "Lind" {
				t.Errorf("contact after rectification: %+v", c)
			}
		}},
		{"restriction", map[string]any{}, "no longer use it", func(t *testing.T, id, addr string) {
			var c struct {
				Restricted bool `json:"restricted"`
			}
			p.Do("GET", "/api/v1/contacts/"+id, nil, &c)
			if !c.Restricted {
				t.Errorf("contact not restricted")
			}
		}},
		{"objection", map[string]any{"scope": "profiling"}, `"profiling"`, func(t *testing.T, id, addr string) {
			var l consentsJSON
			p.Do("GET", "/api/v1/contacts/"+id+"/consents", nil, &l)
			// Direct marketing stopped when the link was used (Art. 21(3), found by a trial:
			// marketing went on until staff completed); staff added the scope the person named.
			if len(l.Objections) != 2 || l.Objections[0].Scope != "direct_marketing" || l.Objections[1].Scope != "profiling" {
				t.Errorf("objections: %+v; want direct_marketing (at once) and profiling", l.Objections)
			}
		}},
		{"erasure", map[string]any{}, "Your personal data is erased", func(t *testing.T, id, addr string) {
			if st := p.Do("GET", "/api/v1/contacts/"+id, nil, nil); st != 404 {
				t.Errorf("contact after erasure: %d", st)
			}
			var d struct{ Reason string }
			p.Do("POST", "/api/v1/consent-checks", map[string]string{"email": strings.ToUpper(addr), "purpose": "newsletter"}, &d)
			if d.Reason != "suppressed" {
				t.Errorf("gate for the erased address: %+v; want suppressed", d)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			var c apptest.Contact
			addr := strings.ReplaceAll(tc.typ, "_", ".") + "@example.org"
			if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Ada", "last_name": "Berg", "title": "Chef"}, &c); st != 201 {
				t.Fatalf("create: %d", st)
			}
			p.Do("POST", "/api/v1/contacts/"+c.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
			if st, _ := apptest.PostForm(t, p.Base, "/p/requests", url.Values{"type": {tc.typ}, "email": {addr}}); st != 200 {
				t.Fatal("intake")
			}
			_, text := apptest.ParseMessage(t, sink.Next(t))
			v, _ := url.Parse(apptest.VerifyLink.FindString(text))
			if st, _ := apptest.PostForm(t, p.Base, v.Path, nil); st != 200 {
				t.Fatal("verify")
			}
			var q struct{ Items []apptest.Request }
			p.Do("GET", "/api/v1/requests?type="+tc.typ, nil, &q)
			if len(q.Items) != 1 || q.Items[0].ContactID != c.ID {
				t.Fatalf("queue: %+v", q.Items)
			}
			id := q.Items[0].ID
			if tc.complete != nil {
				if st := p.Do("POST", "/api/v1/requests/"+id+"/complete", tc.complete, nil); st != 200 {
					t.Fatalf("complete: %d", st)
				}
			}
			d := sink.Next(t)
			_, text = apptest.ParseMessage(t, d)
			if d.To[0] != addr || !strings.Contains(text, tc.answer) || !strings.Contains(text, id) {
				t.Errorf("answer to %v: %s; want %q", d.To, text, tc.answer)
			}
			var r apptest.Request
			p.Do("GET", "/api/v1/requests/"+id, nil, &r)
			if r.State != "completed" {
				t.Errorf("state %s; want completed", r.State)
			}
			if tc.check != nil {
				tc.check(t, c.ID, addr)
			}
		})
	}

	// Deadlines through the API across a leap-year month end.
	var r apptest.Request
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "letter", "received_at": "2024-01-31T23:30:00Z"}, &r)
	if want := time.Date(2024, 2, 29, 23, 30, 0, 0, time.UTC); !r.DueAt.Equal(want) {
		t.Errorf("due_at for 31 January 2024: %v; want %v", r.DueAt, want)
	}
	p.Do("POST", "/api/v1/requests", map[string]any{"type": "access", "channel": "letter", "received_at": "2025-01-31T08:00:00Z"}, &r)
	if want := time.Date(2025, 2, 28, 8, 0, 0, 0, time.UTC); !r.DueAt.Equal(want) {
		t.Errorf("due_at for 31 January 2025: %v; want %v", r.DueAt, want)
	}
}
