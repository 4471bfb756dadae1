package cli_test

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// tamper runs one SQL statement on the data file directly, as an attacker with file access would.
func tamper(t *testing.T, dir, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "tillit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("tamper %q: %v", stmt, err)
	}
}
