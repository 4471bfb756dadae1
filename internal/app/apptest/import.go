package apptest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/audit"
)

// Import imports files into a as tillit import does: options are its flags by name (format,
// status, purpose, kind, mapping, delimiter, encoding; api.ImportOptions), each file is named by
// its base name, and the audit actor is the CLI's "import". It returns the files' reports, as
// the command prints them as JSON, summed (counts added, errors listed in file order). A file
// that fails to import fails the test, as the command's exit code 1 would.
func Import(t testing.TB, a *app.App, options map[string]string, files ...string) ImportReport {
	t.Helper()
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "import"})
	o := map[string]string{}
	for k, v := range options {
		o[k] = v
	}
	var sum ImportReport
	for _, path := range files {
		o["name"] = filepath.Base(path)
		opt, err := api.ImportOptions(o)
		if err != nil {
			t.Fatalf("apptest.Import: %v", err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := a.Importer.Import(ctx, f, opt)
		f.Close()
		if err != nil {
			t.Fatalf("apptest.Import %s: %v", opt.Name, err)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var r ImportReport
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		sum.add(r)
	}
	return sum
}

// ImportDir is Import into the data directory dir through an App of its own, opened for the
// import and closed after it, as tillit import --data dir runs beside (or before) a server.
func ImportDir(t testing.TB, dir string, options map[string]string, files ...string) ImportReport {
	t.Helper()
	a := New(t, Dir(dir))
	defer a.Close()
	return Import(t, a, options, files...)
}

// add adds r's counts to s and appends its errors.
func (s *ImportReport) add(r ImportReport) {
	s.Rows += r.Rows
	s.Created += r.Created
	s.ConsentsRecorded += r.ConsentsRecorded
	s.Existing += r.Existing
	s.Suppressed += r.Suppressed
	s.SuppressionsAdded += r.SuppressionsAdded
	s.SuppressionsKnown += r.SuppressionsKnown
	s.ListUnsub += r.ListUnsub
	s.ListUnsubKnown += r.ListUnsubKnown
	s.Requests += r.Requests
	s.Objections += r.Objections
	s.Expired += r.Expired
	s.Withdrawals += r.Withdrawals
	s.Outdated += r.Outdated
	s.OutdatedSups += r.OutdatedSups
	s.Restricted += r.Restricted
	s.Refused += r.Refused
	s.UnmappedColumns = append(s.UnmappedColumns, r.UnmappedColumns...)
	s.Errors = append(s.Errors, r.Errors...)
}
