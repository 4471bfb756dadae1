package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestQuickStart follows the README's quick start: the shipped sample imports over HTTP and a
// contact is found by a differently written address.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t)
	sample, err := os.ReadFile(filepath.Join("..", "..", "examples", "mailchimp-sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("format", "mailchimp")
	fw, _ := mw.CreateFormFile("file", "mailchimp-sample.csv")
	fw.Write(sample)
	mw.Close()
	req, _ := http.NewRequest("POST", p.Base+"/api/v1/imports", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rep apptest.ImportReport
	if err := json.Unmarshal(b, &rep); err != nil || resp.StatusCode != 200 {
		t.Fatalf("import: %d %s", resp.StatusCode, b)
	}
	if rep.Rows != 3 || rep.Created != 3 || rep.ConsentsRecorded != 3 || rep.Refused != 0 {
		t.Fatalf("import report %+v; want 3 rows, 3 created with consent", rep)
	}
	for _, tc := range []struct{ email, first, last string }{
		{"ASTRID.Lindqvist@example.com", "Astrid", "Lindqvist"},
		{"björn.åkesson@EXAMPLE.com", "Björn", "Åkesson"},
		{"Chiara.Rossi+news@example.org", "Chiara", "Rossi"},
	} {
		var l apptest.List
		if st := p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": tc.email}, &l); st != 200 || len(l.Items) != 1 {
			t.Fatalf("lookup %s: %d %+v", tc.email, st, l)
		}
		if l.Items[0].FirstName != tc.first || l.Items[0].LastName != tc.last {
			t.Errorf("lookup %s = %s %s; want %s %s", tc.email, l.Items[0].FirstName, l.Items[0].LastName, tc.first, tc.last)
		}
	}
	var c struct {
		Notes string   `json:"notes"`
		Tags  []string `json:"tags"`
	}
	var l apptest.List
	p.Do("GET", "/api/v1/contacts?email=chiara.rossi%2Bnews@example.org", nil, &l)
	if len(l.Items) != 1 {
		t.Fatalf("query lookup with an escaped +: %+v", l)
	}
	p.Do("GET", "/api/v1/contacts/"+l.Items[0].ID, nil, &c)
	if c.Notes != "Met at the Milan booth,\nasked for the autumn catalogue" {
		t.Errorf("notes = %q; want the two-line cell", c.Notes)
	}
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "astrid.lindqvist@example.com"}, &l)
	p.Do("GET", "/api/v1/contacts/"+l.Items[0].ID, nil, &c)
	if len(c.Tags) != 2 || c.Tags[0] != "Customers" || c.Tags[1] != "Spring fair" {
		t.Errorf("tags = %q; want [Customers Spring fair]", c.Tags)
	}
}
