package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// randomName returns prefix followed by 12 random hex digits.
func randomName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// freshSchemas returns two new schema names (data, key) in the test process's database
// (pgtest), dropped with everything in them when the test ends.
func freshSchemas(t *testing.T) (string, string) {
	t.Helper()
	data, _ := pgtest.FreshSchema(t, "tt_data_")
	keys, _ := pgtest.FreshSchema(t, "tt_keys_")
	return data, keys
}

func TestMigrateRejectsBadSchemaNames(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ data, keys string }{
		{"", "keys"},
		{"data", ""},
		{"Data", "keys"},
		{"data", `keys"; DROP TABLE x; --`},
		{"1data", "keys"},
		{"data-x", "keys"},
		{"pg_data", "keys"},
		{strings.Repeat("a", MaxIdentifier+1), "keys"},
		{"data", strings.Repeat("k", MaxIdentifier+1)},
		{"same", "same"},
	} {
		// The names are refused before the database is touched (nil would panic otherwise).
		if err := Migrate(ctx, nil, c.data, c.keys); err == nil {
			t.Errorf("Migrate(%q, %q): want an error", c.data, c.keys)
		}
	}
	for _, ok := range []string{"tillit", "_x", "a1_b2", strings.Repeat("a", MaxIdentifier)} {
		if !ValidSchemaName(ok) {
			t.Errorf("ValidSchemaName(%q) = false, want true", ok)
		}
	}
}

// openFresh opens a store on a new schema (prefix + random) of the test process's database
// (pgtest) with cfg, as a node would, and returns it with the schema's name; a second openFresh
// on that name (schema) is a second node. The schemas are dropped when the test ends.
func openFresh(t *testing.T, prefix string, cfg Config) (*DB, string) {
	t.Helper()
	schema, _ := pgtest.FreshSchema(t, prefix)
	return openSchemaNode(t, schema, cfg), schema
}

// openSchemaNode opens a store on schema of the test process's database with cfg, closed when
// the test ends.
func openSchemaNode(t *testing.T, schema string, cfg Config) *DB {
	t.Helper()
	db, err := Open(context.Background(), pgtest.WithSchema(t, pgtest.Require(t), schema), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
