package pgtest

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestDatabaseName(t *testing.T) {
	long := strings.Repeat("a", 60)
	for _, c := range []struct{ stem, binary, want string }{
		{"test", "postgres.test", "test_postgres"},
		{"test", "postgres", "test_postgres"},
		{"test", "cli.test.exe", "test_cli"},
		{"test", "Store-Migrate.v2.test", "test_store_migrate_v2"},
		{"test", "päck.test", "test_p__ck"},
	} {
		if got := DatabaseName(c.stem, c.binary); got != c.want {
			t.Errorf("DatabaseName(%q, %q) = %q; want %q", c.stem, c.binary, got, c.want)
		}
	}
	a, b := DatabaseName(long, "migrate.test"), DatabaseName(long, "postgres.test")
	if len(a) != maxIdent || len(b) != maxIdent || a == b || !strings.HasPrefix(a, long[:50]) {
		t.Errorf("long names %q, %q; want %d bytes each, distinct, beginning with the stem", a, b, maxIdent)
	}
	if got := DatabaseName(strings.Repeat("å", 40), "cli.test"); len(got) > maxIdent || !utf8.ValidString(got) {
		t.Errorf("a long stem of two-byte letters gave %q (%d bytes); want at most %d, valid UTF-8", got, len(got), maxIdent)
	}
}

func TestWithSchema(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://h/test", "postgres://h/test?schema=s_1"},
		{"postgres://h/test?sslmode=disable", "postgres://h/test?sslmode=disable&schema=s_1"},
		{"postgres://h/test?schema=old&sslmode=disable", "postgres://h/test?sslmode=disable&schema=s_1"},
	} {
		got := WithSchema(t, c.in, "s_1")
		if got != c.want || SchemaOf(got) != "s_1" {
			t.Errorf("WithSchema(%q, s_1) = %q (schema %q); want %q", c.in, got, SchemaOf(got), c.want)
		}
	}
}

// TestURL: the process's database is the URL's with this package's name appended, and it exists.
func TestURL(t *testing.T) {
	db := Open(t)
	u, err := url.Parse(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, "_pgtest") || "/"+name != u.Path {
		t.Errorf("connected to %q through %s; want the URL's database with _pgtest appended", name, u.Redacted())
	}
}

// TestCreateDatabaseConcurrently: processes that create the same database at once all go on.
func TestCreateDatabaseConcurrently(t *testing.T) {
	admin := Open(t)
	schema, _ := FreshSchema(t, "pgtest_") // a random name
	name := "pgtest_" + schema
	u, _ := url.Parse(URL(t))
	u.Path = "/postgres"
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS "` + name + `"`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { errs[i] = createDatabase(u.String(), name) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("creator %d: %v", i, err)
		}
	}
	var n int
	if err := admin.QueryRow("SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 1 {
		t.Errorf("databases named %s: %d (%v); want 1", name, n, err)
	}
}
