package cli_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

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
