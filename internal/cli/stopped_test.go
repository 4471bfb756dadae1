package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportThatStopsReportsWhatItStored: a row longer than 1 MiB (a quote left open) stops the
// file; the answer says so, carries the report of the rows stored before it, and the audit log
// records import.stopped.
func TestImportThatStopsReportsWhatItStored(t *testing.T) {
	var b strings.Builder
	b.WriteString("email,first_name\n")
	for i := range 1200 {
		fmt.Fprintf(&b, "p%d@example.org,P%d\n", i, i)
	}
	b.WriteString("runaway@example.org,\"" + strings.Repeat("x", 1<<20+10) + "\n")
	b.WriteString("after@example.org,After\n")

	p := startProgram(t, t.TempDir())
	req, _ := http.NewRequest("POST", p.base+"/api/v1/imports?format=generic", strings.NewReader(b.String()))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+p.token)
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
	var all listJSON
	n, cursor := 0, ""
	for {
		p.do("GET", "/api/v1/contacts?limit=500&cursor="+cursor, nil, &all)
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
	p.do("GET", "/api/v1/audit?object_kind=import", nil, &audit)
	if len(audit.Items) != 1 || audit.Items[0].Action != "import.stopped" {
		t.Errorf("import audit events = %+v; want one import.stopped", audit.Items)
	}
}

// TestImportCLIGoesOnAfterAMissingFile: a missing file fails the command, but the reports of the
// files that were imported are printed.
func TestImportCLIGoesOnAfterAMissingFile(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, "good.csv", "Email Address,First Name,OPTIN_TIME\nok@example.org,Ok,\n")
	code, out, stderr := runCLI(t, "import", "--data", dir, "--format", "mailchimp", "--json", filepath.Join(t.TempDir(), "missing.csv"), good)
	if code != 1 || !strings.Contains(stderr, "missing.csv") {
		t.Errorf("exit %d, stderr %q; want 1 naming the missing file", code, stderr)
	}
	var got struct{ Reports []reportJSON }
	if err := json.NewDecoder(bytes.NewReader([]byte(out))).Decode(&got); err != nil || len(got.Reports) != 1 || got.Reports[0].Created != 1 {
		t.Errorf("stdout %q; want the good file's report", out)
	}
}
