package backup

import (
	"strings"
	"testing"
)

// TestManifestCheck: a manifest of another format or a newer version, with a field this reader
// does not know, or with parts other than the format's, is refused, saying why.
func TestManifestCheck(t *testing.T) {
	const sum = `"sha256":"` + "0000000000000000000000000000000000000000000000000000000000000000" + `"`
	parts := `"parts":[{"name":"data.age","holds":["tillit.db"],"encrypted_to":"data","size":1,` + sum + `},{"name":"ledger.age","holds":[],"encrypted_to":"data","size":1,` + sum + `}]`
	for _, c := range []struct{ json, want string }{
		{`{"format":"tillit-backup","version":1,"created_at":"2026-12-08T10:00:00Z",` + parts + `}`, ""},
		{`{"format":"tillit-backup","version":2,"created_at":"2026-12-08T10:00:00Z",` + parts + `}`, "format version 2"},
		{`{"format":"other","version":1,"created_at":"2026-12-08T10:00:00Z",` + parts + `}`, "format is \"other\""},
		{`{"format":"tillit-backup","version":1,"created_at":"2026-12-08T10:00:00Z","extra":1,` + parts + `}`, "unknown field"},
		{`{"format":"tillit-backup","version":1,"created_at":"2026-12-08T10:00:00Z",` + parts + `} {}`, "data after"},
		{`{"format":"tillit-backup","version":1,"created_at":"2026-12-08T10:00:00Z","keys":{"expires_at":"2027-01-01T00:00:00Z"},` + parts + `}`, "lists 2 parts"},
		{`{"format":"tillit-backup","version":1,"created_at":"2026-12-08T10:00:00Z",` + strings.Replace(parts, "ledger.age", "keys.age", 1) + `}`, "part 2 is \"keys.age\""},
		{`{"format":"tillit-backup","version":1,"created_at":"2026-12-08T10:00:00Z",` + strings.Replace(parts, sum, `"sha256":"00"`, 1) + `}`, "64 hex digits"},
		{`{"format":"tillit-backup","version":1,` + parts + `}`, "no created_at"},
	} {
		m, err := parseManifest([]byte(c.json))
		if err == nil {
			err = m.check()
		}
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v; want %q", c.json, err, c.want)
		}
	}
}
