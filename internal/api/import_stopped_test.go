package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestImportThatStopsReportsWhatItStored: a row longer than 1 MiB (a quote left open) stops the
// file; the answer says so, carries the report of the rows stored before it, and the audit log
// records import.stopped.
func TestImportThatStopsReportsWhatItStored(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("email,first_name\n")
	for i := range 1200 {
		fmt.Fprintf(&b, "p%d@example.org,P%d\n", i, i)
	}
	b.WriteString("runaway@example.org,\"" + strings.Repeat("x", 1<<20+10) + "\n")
	b.WriteString("after@example.org,After\n")

	p := apptest.Serve(t)
	req, _ := http.NewRequest("POST", p.Base+"/api/v1/imports?format=generic", strings.NewReader(b.String()))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var prob struct {
		Status int `json:"status"`
		Report struct {
			Rows     int    `json:"rows"`
			Created  int    `json:"created"`
			Complete bool   `json:"complete"`
			Stopped  string `json:"stopped"`
		} `json:"report"`
	}
	if err := json.Unmarshal(body, &prob); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if resp.StatusCode != 400 || prob.Report.Complete || !strings.Contains(prob.Report.Stopped, "line 1202") {
		t.Fatalf("stopped import: %d %s; want 400 with an incomplete report naming line 1202", resp.StatusCode, body)
	}
	var all apptest.List
	n, cursor := 0, ""
	for {
		p.Do("GET", "/api/v1/contacts?limit=500&cursor="+cursor, nil, &all)
		n += len(all.Items)
		if all.NextCursor == "" {
			break
		}
		cursor = all.NextCursor
	}
	if n != prob.Report.Created || n < 1000 {
		t.Errorf("%d contacts stored; the report says %d created", n, prob.Report.Created)
	}
	var audit struct {
		Items []struct{ Action string } `json:"items"`
	}
	p.Do("GET", "/api/v1/audit?object_kind=import", nil, &audit)
	if len(audit.Items) != 1 || audit.Items[0].Action != "import.stopped" {
		t.Errorf("import audit events = %+v; want one import.stopped", audit.Items)
	}
}
