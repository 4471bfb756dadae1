package cli_test

import (
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// TestBenchOnPostgreSQLLeavesNoSchema: tillit bench on --database-url postgres://… fills a
// store in the schemas the URL names; when it ends it drops those it created, and never one
// that was there before it (here a data schema made empty beforehand, as a DBA may).
func TestBenchOnPostgreSQLLeavesNoSchema(t *testing.T) {
	admin := pgtest.Open(t)
	fresh, freshURL := pgtest.FreshSchema(t, "tc_bench_")
	before, beforeURL := pgtest.FreshSchema(t, "tc_bench_")
	if _, err := admin.Exec(`CREATE SCHEMA "` + before + `"`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url  string
		want map[string]bool // schema → there after the bench
	}{
		{freshURL, map[string]bool{fresh: false, fresh + "_keys": false}},
		{beforeURL, map[string]bool{before: true, before + "_keys": false}},
	} {
		code, out, stderr := runCLI(t, "bench", "import", "--n", "50", "--json", "--database-url", c.url)
		if code != 0 || out == "" {
			t.Fatalf("bench import on %s: exit %d, %q\n%s", c.url, code, out, stderr)
		}
		for schema, want := range c.want {
			var there bool
			if err := admin.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&there); err != nil {
				t.Fatal(err)
			}
			if there != want {
				t.Errorf("after tillit bench on %s: schema %s there %v; want %v", c.url, schema, there, want)
			}
		}
	}
}
