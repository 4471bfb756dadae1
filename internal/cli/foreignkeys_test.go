package cli_test

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/cli"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// serveOnce runs tillit serve in this process and stops it as soon as it listens; it returns
// the exit code, what it wrote to stderr and whether it listened.
func serveOnce(t *testing.T, args ...string) (code int, stderr string, listened bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errb := &syncBuffer{}
	code = cli.Main(ctx, cli.Env{
		Args:   append([]string{"serve", "--listen", "127.0.0.1:0"}, args...),
		Stdout: io.Discard, Stderr: errb, Getenv: getenv,
		Ready: func(string) { listened = true; cancel() },
	})
	return code, errb.String(), listened
}

// TestAnotherInstallationsKeysAreRefused (PostgreSQL trial): a node started with a data
// directory holding another installation's root key and keysets (a copy of the wrong
// directory, a second installation's --data) opened the store in the schema, answered /readyz
// 503 (anchor_forged: the audit anchor's MAC does not verify under those keys) and refused every
// write, instead of being refused at start. serve, import and audit verify now refuse to start,
// naming the cause and no personal data. A store whose anchor alone was rewritten (a data key
// opens under the keys) still starts and reports anchor_forged, as before; so does audit verify
// on a store that holds no data key to tell the two apart.
func TestAnotherInstallationsKeysAreRefused(t *testing.T) {
	work := t.TempDir()
	people := map[string]string{"a": "anna.lindqvist@example.org,Anna\n", "b": "bertil.nyberg@example.org,Bertil\n"}
	urls := map[string]string{}
	var schemaA string
	var admin *sql.DB
	for _, name := range []string{"a", "b", "c"} {
		schema, url := pgtest.FreshSchema(t, "tc_keys_")
		urls[name] = url
		if name == "a" {
			schemaA, admin = schema, pgtest.Open(t)
		}
		dir := filepath.Join(work, name)
		if p, ok := people[name]; ok {
			csv := writeFile(t, name+".csv", "email,first_name\n"+p)
			if code, _, stderr := runCLI(t, "import", "--data", dir, "--database-url", url, "--format", "generic", csv); code != 0 {
				t.Fatalf("import into installation %s: exit %d: %s", name, code, stderr)
			}
		} else if code, stderr, listened := serveOnce(t, "--data", dir, "--database-url", url); code != 0 || !listened {
			t.Fatalf("first start of installation %s (no people): exit %d: %s", name, code, stderr)
		}
	}
	personal := []string{"anna", "Anna", "bertil", "Bertil", "lindqvist", "nyberg"}
	refused := func(what, stderr, want string) {
		t.Helper()
		if !strings.Contains(stderr, want) {
			t.Errorf("%s: %q; want a refusal saying %q", what, stderr, want)
		}
		for _, p := range personal {
			if strings.Contains(stderr, p) {
				t.Errorf("%s: the message holds personal data (%q): %q", what, p, stderr)
			}
		}
	}

	// Installation b's keys on installation a's store (which holds a person's data key).
	dirB := filepath.Join(work, "b")
	const foreign = "do not belong to the store"
	if code, stderr, listened := serveOnce(t, "--data", dirB, "--database-url", urls["a"]); code == 0 || listened {
		t.Errorf("serve with another installation's keys: exit %d, listened %v; want refused at start", code, listened)
	} else {
		refused("serve with another installation's keys", stderr, foreign)
	}
	csv := writeFile(t, "more.csv", "email\ncarl.ek@example.org\n")
	for _, args := range [][]string{
		{"import", "--data", dirB, "--database-url", urls["a"], "--format", "generic", csv},
		{"audit", "verify", "--data", dirB, "--database-url", urls["a"]},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code == 0 {
			t.Errorf("tillit %s with another installation's keys: exit 0; want refused", args[0])
		}
		refused("tillit "+args[0]+" with another installation's keys", stdout+stderr, foreign)
	}

	// Installation b's keys on installation c's store, which holds no data key: another
	// installation's keys or a rewritten anchor, the store cannot tell; serve refuses, audit
	// verify reports.
	if code, stderr, listened := serveOnce(t, "--data", dirB, "--database-url", urls["c"]); code == 0 || listened {
		t.Errorf("serve with another installation's keys on a store without people: exit %d, listened %v; want refused at start", code, listened)
	} else {
		refused("serve with another installation's keys on a store without people", stderr, "audit anchor")
	}
	if code, out, stderr := runCLI(t, "audit", "verify", "--json", "--data", dirB, "--database-url", urls["c"]); code != 1 || !strings.Contains(out, `"reason":"anchor_forged"`) {
		t.Errorf("audit verify on a store without people, under other keys: exit %d, %q %q; want exit 1, anchor_forged", code, out, stderr)
	}

	// Each installation with its own keys starts; so does a with its anchor's MAC removed (a
	// rewritten anchor: its data key still opens), reporting it as before.
	for _, name := range []string{"a", "b", "c"} {
		if code, stderr, listened := serveOnce(t, "--data", filepath.Join(work, name), "--database-url", urls[name]); code != 0 || !listened {
			t.Errorf("serve installation %s with its own keys: exit %d, listened %v: %s", name, code, listened, stderr)
		}
	}
	if _, err := admin.Exec(`UPDATE "` + schemaA + `_keys".audit_anchor SET mac = NULL`); err != nil {
		t.Fatal(err)
	}
	if code, stderr, listened := serveOnce(t, "--data", filepath.Join(work, "a"), "--database-url", urls["a"]); code != 0 || !listened {
		t.Errorf("serve installation a with its anchor rewritten: exit %d, listened %v: %s; want it to start (readyz reports anchor_forged)", code, listened, stderr)
	}
	if code, out, _ := runCLI(t, "audit", "verify", "--json", "--data", filepath.Join(work, "a"), "--database-url", urls["a"]); code != 1 || !strings.Contains(out, `"reason":"anchor_forged"`) {
		t.Errorf("audit verify after the anchor was rewritten: exit %d, %q; want exit 1, anchor_forged", code, out)
	}
}

// TestAnotherInstallationsKeysAreRefusedOnSQLite: the same check on SQLite, where the keys sit
// beside the store: a data directory whose root.key and keysets.json were replaced by another
// installation's is refused at start, naming the cause.
func TestAnotherInstallationsKeysAreRefusedOnSQLite(t *testing.T) {
	testdb.RequireSQLite(t, "it replaces the keys beside a SQLite store's files")
	work := t.TempDir()
	for _, name := range []string{"a", "b"} {
		csv := writeFile(t, name+".csv", "email\n"+name+"-person@example.org\n")
		if code, _, stderr := runCLI(t, "import", "--data", filepath.Join(work, name), "--format", "generic", csv); code != 0 {
			t.Fatalf("import into %s: exit %d: %s", name, code, stderr)
		}
	}
	dir := filepath.Join(work, "a")
	for _, f := range []string{"root.key", "keysets.json"} {
		b, err := os.ReadFile(filepath.Join(work, "b", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if code, stderr, listened := serveOnce(t, "--data", dir); code == 0 || listened || !strings.Contains(stderr, "do not belong to the store") || strings.Contains(stderr, "person@") {
		t.Errorf("serve with another installation's keys: exit %d, listened %v: %q; want refused at start, naming the keys and nothing personal", code, listened, stderr)
	}
	if code, _, stderr := runCLI(t, "audit", "verify", "--data", dir); code == 0 || !strings.Contains(stderr, "do not belong to the store") {
		t.Errorf("audit verify with another installation's keys: exit %d: %q; want refused", code, stderr)
	}
}

// TestMistypedSchemaIsNoNewStore: a data directory with its keys pointed at a schema that holds
// no store (a typo in schema=) is refused by every command, serve included, and nothing is made
// there; an empty schema= is refused too. tillit audit verify made the two schemas and
// reported the new, empty log intact (trial of issue 13).
func TestMistypedSchemaIsNoNewStore(t *testing.T) {
	_, url := pgtest.FreshSchema(t, "tc_typo_")
	dir := t.TempDir()
	csv := writeFile(t, "p.csv", "email,first_name\nanna.lindqvist@example.org,Anna\n")
	if code, _, stderr := runCLI(t, "import", "--data", dir, "--database-url", url, "--format", "generic", csv); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	typo, typoURL := pgtest.FreshSchema(t, "tc_typo_")
	for _, args := range [][]string{{"audit", "verify"}, {"token", "list"}} {
		code, stdout, stderr := runCLI(t, append(args, "--data", dir, "--database-url", typoURL)...)
		if code == 0 || !strings.Contains(stderr, "holds no Tillit store") {
			t.Errorf("%v on a schema without a store: exit %d, %q %q; want refused, saying the URL holds no store", args, code, stdout, stderr)
		}
	}
	if code, stderr, listened := serveOnce(t, "--data", dir, "--database-url", typoURL); code == 0 || listened || !strings.Contains(stderr, "holds no Tillit store") {
		t.Errorf("serve on a schema without a store: exit %d, listened %v, %q; want refused", code, listened, stderr)
	}
	var n int
	if err := pgtest.Open(t).QueryRow("SELECT count(*) FROM pg_namespace WHERE nspname IN ($1, $2)", typo, typo+"_keys").Scan(&n); err != nil || n != 0 {
		t.Errorf("schemas made for the typo: %d, %v; want none", n, err)
	}
	empty := strings.Replace(url, "schema=", "schema=&x=", 1)
	if code, _, stderr := runCLI(t, "audit", "verify", "--data", dir, "--database-url", empty); code == 0 || !strings.Contains(stderr, "schema= is empty") {
		t.Errorf("an empty schema=: exit %d, %q; want refused naming it", code, stderr)
	}
}
