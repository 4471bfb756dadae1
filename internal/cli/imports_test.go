package cli_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainImportDirection checks STYLE.md's rule: a domain package never imports net/http,
// database/sql, a store, web or api (directly or through another package).
func TestDomainImportDirection(t *testing.T) {
	domain := []string{"apperr", "audit", "consent", "contact", "importer", "keys", "ledger", "normalize", "token"}
	forbidden := []string{"net/http", "database/sql", "github.com/tillit/tillit/internal/store/", "github.com/tillit/tillit/internal/web", "github.com/tillit/tillit/internal/api", "github.com/tillit/tillit/internal/cli"}
	for _, pkg := range domain {
		out, err := exec.Command("go", "list", "-deps", "github.com/tillit/tillit/internal/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) || (!strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f+"/")) {
					t.Errorf("domain package internal/%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
