package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/personal"
	"github.com/tillit/tillit/internal/store/sqlstore"
)

// TestEveryPersonalTableIsExportedAndErased reads the migrated schema of both files and fails
// when a holding of the personal-data register (internal/personal) has no table here, when a
// mapped table is not in the schema, when a table is neither mapped to a holding nor in
// NotPersonal, or when a table with a contact id, a sealed (_ct), blind-index (_bidx) or hash
// column is called not personal. What each holding is, which bundle file carries it and what
// erasure does with it are the register's to say (its own tests, and dsr's for the bundle
// files); the contract suite's erasure case and internal/cli's
// TestErasureCoversEveryPersonalTable check the mapping against a real erasure.
func TestEveryPersonalTableIsExportedAndErased(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	db.Close()
	tables, notPersonal := sqlstore.PersonalTables(), sqlstore.NotPersonal()
	registered := map[string]string{} // table → holding id
	for _, h := range personal.Holdings() {
		pt, ok := tables[h.ID]
		if !ok {
			t.Errorf("holding %s has no table: add it to sqlstore.PersonalTables", h.ID)
			continue
		}
		if other, dup := registered[pt.Table]; dup && (pt.Where == "" || pt.Where == tables[other].Where) {
			t.Errorf("%s keeps two holdings, %s and %s, without where clauses that part its rows", pt.Table, other, h.ID)
		}
		registered[pt.Table] = h.ID
		if _, both := notPersonal[pt.Table]; both {
			t.Errorf("%s is both personal and not", pt.Table)
		}
		if (pt.Where == "") != h.ByAddress {
			t.Errorf("holding %s: where %q, found by address %v; want no where clause exactly for a holding found by address", h.ID, pt.Where, h.ByAddress)
		}
	}
	for id := range tables {
		if _, ok := personal.Find(id); !ok {
			t.Errorf("sqlstore.PersonalTables maps %s, which the personal-data register does not have", id)
		}
	}
	seen := map[string]bool{}
	for file, schema := range map[string]string{"tillit.db": "", "keys.db": "keystore."} {
		raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, file)+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		rows, err := raw.Query(`SELECT m.name, group_concat(c.name, ',') FROM sqlite_schema m JOIN pragma_table_info(m.name) c
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' GROUP BY m.name`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, cols string
			if err := rows.Scan(&name, &cols); err != nil {
				t.Fatal(err)
			}
			name = schema + name
			seen[name] = true
			_, pers := registered[name]
			_, notPers := notPersonal[name]
			switch {
			case !pers && !notPers:
				t.Errorf("table %s (%s) is neither mapped to a holding of the personal-data register nor in sqlstore.NotPersonal: describe it in internal/personal and map it in sqlstore.PersonalTables", name, cols)
			case notPers:
				for _, c := range strings.Split(cols, ",") {
					if name == "processors" && c == "webhook_secret_ct" {
						continue // a company's shared secret, sealed because it is a secret
					}
					if c == "contact_id" || strings.HasSuffix(c, "_ct") || strings.HasSuffix(c, "_bidx") || c == "hash" && name != "tokens" && name != "keystore.audit_anchor" {
						t.Errorf("table %s is called not personal but has the column %s", name, c)
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for name, id := range registered {
		if !seen[name] {
			t.Errorf("holding %s is mapped to %s, which the schema does not have", id, name)
		}
	}
	for name := range notPersonal {
		if !seen[name] {
			t.Errorf("sqlstore.NotPersonal lists %s, which the schema does not have", name)
		}
	}
}
