package cli_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// tamper runs one SQL statement on the store directly (testdb.SQL), as an attacker with access
// to the database would.
func tamper(t *testing.T, dir, stmt string) {
	t.Helper()
	if _, err := testdb.SQL(t, dir).Exec(stmt); err != nil {
		t.Fatalf("tamper %q: %v", stmt, err)
	}
}

// TestRewrittenAnchorIsCaught: found by a fresh-user trial. With both database files writable,
// deleting the newest audit events and rewriting the anchor in keys.db to the last event left
// verified as intact. The anchor carries a keyed MAC now: a rewritten one (or one whose MAC was
// removed) is "anchor_forged".
func TestRewrittenAnchorIsCaught(t *testing.T) {
	for _, withMAC := range []bool{true, false} {
		dir := t.TempDir()
		importJSON(t, dir, writeFile(t, "s.csv", "Email Address,First Name,OPTIN_TIME\na1@example.org,Alpha,\na2@example.org,Beta,\na3@example.org,Gamma,\n"))
		if code, out, _ := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
			t.Fatalf("verify untouched log: exit %d, %q", code, out)
		}
		db := testdb.SQL(t, dir)
		var last int64
		if err := db.QueryRow("SELECT max(seq) FROM audit_events").Scan(&last); err != nil {
			t.Fatal(err)
		}
		keep := last - 2
		mac := "mac"
		if !withMAC {
			mac = "NULL"
		}
		for _, stmt := range []string{
			"DELETE FROM audit_events WHERE seq > " + strconv.FormatInt(keep, 10),
			"UPDATE audit_anchor SET seq = " + strconv.FormatInt(keep, 10) + ", hash = (SELECT hash FROM audit_events WHERE seq = " + strconv.FormatInt(keep, 10) + "), mac = " + mac,
		} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		db.Close()
		code, out, _ := runCLI(t, "audit", "verify", "--data", dir, "--json")
		if code != 1 || !strings.Contains(out, `"reason":"anchor_forged"`) {
			t.Errorf("with mac %v: verify after deleting the newest events and rewriting the anchor: exit %d, %q; want exit 1, anchor_forged", withMAC, code, out)
		}
	}
}
