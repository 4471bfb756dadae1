package dsr_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/dsr"
)

// TestContactSchemaPortsToPython: the published contact.schema.json is read by a second,
// independent validator (Debian's python3-jsonschema, installed by .ci/run), which accepts the
// bundle's contact.json and refuses one with an extra property and one with an upper-case domain.
func TestContactSchemaPortsToPython(t *testing.T) {
	py := "/usr/bin/python3" // Debian's interpreter: the package installs for it
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	if err := exec.Command(py, "-c", "import jsonschema").Run(); err != nil {
		if os.Getenv("TILLIT_REQUIRE_PYJSONSCHEMA") != "" {
			t.Fatalf("python3-jsonschema is required (TILLIT_REQUIRE_PYJSONSCHEMA is set): %v", err)
		}
		t.Skip("python3-jsonschema not installed (apt-get install python3-jsonschema); .ci/run requires it")
	}
	files, _, _ := unzip(t, richBundle(t))
	dir := t.TempDir()
	good := files["contact.json"].data
	extra := bytes.Replace(good, []byte(`{`), []byte(`{"favourite_colour": "blue", `), 1)
	upper := bytes.Replace(good, []byte(`@`), []byte(`@EXAMPLE.`), 1)
	for name, b := range map[string][]byte{"schema.json": dsr.ContactSchema, "good.json": good, "extra.json": extra, "upper.json": upper} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const script = `import json, sys, jsonschema
d = sys.argv[1]
schema = json.load(open(d + "/schema.json"))
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
for name in ["good", "extra", "upper"]:
    errs = list(v.iter_errors(json.load(open(d + "/" + name + ".json"))))
    print(name, "valid" if not errs else "invalid")`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("python jsonschema: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "good valid\nextra invalid\nupper invalid" {
		t.Errorf("python jsonschema says:\n%s\nwant good valid, extra and upper invalid", got)
	}
}
