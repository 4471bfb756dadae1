package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/store/sqlite"
)

// bundleFiles are the files of the access bundle (internal/dsr, WriteZip).
var bundleFiles = []string{"contact.json", "contact.csv", "contact.vcf", "consents.json", "suppression.json", "requests.json", "disclosures.json", "audit.json"}

// TestEveryPersonalTableIsExportedAndErased reads the migrated schema of both files and fails
// when a table is in neither sqlite.PersonalData nor sqlite.NotPersonal, when a table with a
// contact id, a sealed (_ct), blind-index (_bidx) or hash column is called not personal, or when
// a personal table does not say which bundle file carries it and what erasure does with it.
// internal/cli's TestErasureCoversEveryPersonalTable checks the same registry against a real
// export and erasure.
func TestEveryPersonalTableIsExportedAndErased(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	db.Close()
	registered := map[string]sqlite.PersonalTable{}
	for _, pt := range sqlite.PersonalData {
		if _, dup := registered[pt.Table]; dup {
			t.Errorf("%s is listed twice", pt.Table)
		}
		registered[pt.Table] = pt
		if _, both := sqlite.NotPersonal[pt.Table]; both {
			t.Errorf("%s is both personal and not", pt.Table)
		}
		if words := sqlite.PersonalWords[pt.Table]; words == "" || strings.Contains(words, "_") {
			t.Errorf("%s: receipt words %q; want what it holds in plain words, no table or column name", pt.Table, words)
		}
		if pt.Erase != "deleted" && !strings.HasPrefix(pt.Erase, "kept: ") {
			t.Errorf("%s: erasure %q; want deleted or kept: <exemption>", pt.Table, pt.Erase)
		}
		files := pt.Exported()
		if files == nil && !strings.HasPrefix(pt.Export, "not exported: ") {
			t.Errorf("%s: export %q names no file and no reason", pt.Table, pt.Export)
		}
		for _, f := range files {
			if !slices.Contains(bundleFiles, f) {
				t.Errorf("%s: exported to %q, which the bundle does not have", pt.Table, f)
			}
		}
	}
	for table := range sqlite.PersonalWords {
		if _, ok := registered[table]; !ok {
			t.Errorf("PersonalWords names %s, which PersonalData does not list", table)
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
			_, personal := registered[name]
			_, notPersonal := sqlite.NotPersonal[name]
			switch {
			case !personal && !notPersonal:
				t.Errorf("table %s (%s) is in neither sqlite.PersonalData nor sqlite.NotPersonal: say how it is exported and erased", name, cols)
			case notPersonal:
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
	for name := range registered {
		if !seen[name] {
			t.Errorf("sqlite.PersonalData lists %s, which the schema does not have", name)
		}
	}
	for name := range sqlite.NotPersonal {
		if !seen[name] {
			t.Errorf("sqlite.NotPersonal lists %s, which the schema does not have", name)
		}
	}
}
