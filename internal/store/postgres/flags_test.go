package postgres

import (
	"context"
	"testing"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// TestFlagColumnsTakeIntegers pins what the shared SQL layer must do with the 0/1 flag columns
// (BIGINT here, as SQLite's INTEGER): pgx encodes a Go int into them but refuses a Go bool, which
// the SQLite code passes today (e.g. contacts.restricted, purposes.direct_marketing,
// policy_versions.material) and the SQLite driver turns into 1/0. Scanning a flag into a bool
// works on both.
func TestFlagColumnsTakeIntegers(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	data, keys := freshSchemas(t)
	if err := Migrate(ctx, db, data, keys); err != nil {
		t.Fatal(err)
	}
	ins := "INSERT INTO " + quoteIdent(data) + ".purposes (id, name, description, lawful_basis, retention_days, double_opt_in, created_at, direct_marketing) VALUES ($1, 'n', 'd', 'consent', 0, 0, '2024-01-01T00:00:00.000000000Z', $2)"
	if _, err := db.ExecContext(ctx, ins, "p_int", 1); err != nil {
		t.Fatalf("a flag given as an int: %v", err)
	}
	if _, err := db.ExecContext(ctx, ins, "p_bool", true); err == nil {
		t.Errorf("a flag given as a Go bool was accepted: the shared layer may pass bools (update this test)")
	}
	var dm bool
	if err := db.QueryRowContext(ctx, "SELECT direct_marketing FROM "+quoteIdent(data)+".purposes WHERE id = 'p_int'").Scan(&dm); err != nil || !dm {
		t.Errorf("scan a flag into a bool: %v, %v; want true, nil", dm, err)
	}
}
