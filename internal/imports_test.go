// Package internal_test holds the test of the layering of the packages under internal/; the
// directory has no code of its own.
package internal_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tillit/tillit/internal"

// adapters are the packages, each with those below it, that turn technology into calls on the
// domain: a command line, HTTP in either direction, HTML, a database, the composition root,
// Prometheus metrics.
// Every other package under internal/ is a domain package.
var adapters = []string{"cli", "api", "web", "store", "webhook", "app", "metrics"}

// stdlibForbidden are the standard packages (each with those below it) a domain package never
// reaches: a domain package neither serves nor sends HTTP and never speaks SQL.
var stdlibForbidden = []string{"net/http", "database/sql"}

// under reports whether pkg is root or below it.
func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

// forbidden reports whether a domain package may not depend on pkg: an adapter (the store's
// Tx union included: it is the implementer's checklist, not a domain's dependency) or one of
// stdlibForbidden.
func forbidden(pkg string) bool {
	for _, a := range adapters {
		if under(pkg, module+"/"+a) {
			return true
		}
	}
	return slices.ContainsFunc(stdlibForbidden, func(f string) bool { return under(pkg, f) })
}

// goList runs go list with args and returns its output's lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if e, ok := err.(*exec.ExitError); ok {
			stderr = e.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestDomainImportDirection checks STYLE.md's rule over every package under internal/ that is
// not an adapter (computed, not listed): none depends, directly or through another package, on
// net/http, database/sql, internal/store or below, web, api, cli, the webhook sender or app.
// A failure names the chain of imports that leads there.
func TestDomainImportDirection(t *testing.T) {
	var domain []string
	for _, pkg := range goList(t, "./...") {
		if pkg != module && !forbidden(pkg) {
			domain = append(domain, pkg)
		}
	}
	// The set is computed; make sure it is not empty by mistake (a pattern matching nothing).
	for _, want := range []string{"consent", "contact", "dsr", "governance", "share"} {
		if !slices.Contains(domain, module+"/"+want) {
			t.Fatalf("domain packages %q; want internal/%s among them", domain, want)
		}
	}
	// One go list for the whole graph: each line is a package and its imports.
	imports := map[string][]string{}
	for _, line := range goList(t, append([]string{"-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, domain...)...) {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	for _, pkg := range domain {
		// Breadth first from pkg, keeping how each package was reached.
		from := map[string]string{pkg: ""}
		queue := []string{pkg}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if forbidden(p) {
				chain := []string{p}
				for q := from[p]; q != ""; q = from[q] {
					chain = append([]string{q}, chain...)
				}
				t.Errorf("domain package %s depends on %s: %s", short(pkg)[0], short(p)[0], strings.Join(short(chain...), " → "))
				continue
			}
			for _, dep := range imports[p] {
				if _, seen := from[dep]; !seen {
					from[dep] = p
					queue = append(queue, dep)
				}
			}
		}
	}
	t.Logf("%d domain packages: %s", len(domain), strings.Join(short(domain...), " "))
}

// short returns pkgs without the module path.
func short(pkgs ...string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = strings.TrimPrefix(p, "github.com/tillit/tillit/")
	}
	return out
}

// backends are the packages under internal/store that register a backend (their code calls
// store.Register), computed from the source: store/sqlite and store/postgres, not the shared SQL
// or a tool over the backends such as store/migrate.
func backends(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]bool{}
	err := filepath.WalkDir("store", func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(file, ".go") || strings.HasSuffix(file, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Register" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "store" {
					out[module+"/"+filepath.ToSlash(filepath.Dir(file))] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"store/sqlite", "store/postgres"} {
		if !out[module+"/"+want] {
			t.Fatalf("backends %v; want internal/%s among them (the search for store.Register missed it)", out, want)
		}
	}
	return out
}

// TestOnlyTheStoreNamesABackend: outside internal/store, a backend package (one that calls
// store.Register) is imported only for its registration (import _ ".../store/sqlite"), never by
// name, so no code or test outside the store names a SQLite type or constant (issue 12:
// `store.Open` is the one place that picks a backend). Test files count too.
func TestOnlyTheStoreNamesABackend(t *testing.T) {
	isBackend := backends(t)
	fset := token.NewFileSet()
	var files int
	err := filepath.WalkDir(".", func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (file == "store" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(file, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if isBackend[p] && (imp.Name == nil || imp.Name.Name != "_") {
				t.Errorf("%s imports %s by name; outside internal/store a backend is imported only as _ (store.Open picks it)", file, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d Go files under internal/; want the whole tree", files)
	}
}
