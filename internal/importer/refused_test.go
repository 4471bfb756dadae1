package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/importer"
	_ "github.com/tillit/tillit/internal/store/sqlite"
)

// newImporter returns the Importer of a whole app (apptest) on a fresh SQLite store, with real
// keys.
func newImporter(tb testing.TB) *importer.Importer {
	tb.Helper()
	return apptest.New(tb).Importer
}

// badRows is a generic CSV with n rows refused in turn for three reasons (an address that is not
// one, an empty address, a bad status), then one good row.
type badRows struct {
	n, i int
	buf  []byte
}

func (b *badRows) Read(p []byte) (int, error) {
	for len(b.buf) < len(p) && b.i <= b.n+1 {
		switch {
		case b.i == 0:
			b.buf = append(b.buf, "email,status\n"...)
		case b.i == b.n+1:
			b.buf = fmt.Appendf(b.buf, "good%d@example.com,subscribed\n", b.n)
		case b.i%3 == 0:
			b.buf = append(b.buf, "SECRET-not-an-address,subscribed\n"...)
		case b.i%3 == 1:
			b.buf = append(b.buf, ",subscribed\n"...)
		default:
			b.buf = append(b.buf, "x@example.com,=SECRET\n"...)
		}
		b.i++
	}
	if len(b.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// TestReportIsBounded: found by the reliability trial (D4). Every refused row was kept in the
// report: 5,000,000 bad rows cost 1.37 GB of memory and a 384 MB answer. The report now lists
// the first MaxReportedErrors rows and counts the rest by reason; its size is the same for 300
// and for 30,000 refused rows, and every refused row is stored and read back as CSV, without
// any cell value.
func TestReportIsBounded(t *testing.T) {
	im := newImporter(t)
	ctx := context.Background()
	var sizes []int
	for _, n := range []int{300, 30_000} {
		rep, err := im.Import(ctx, &badRows{n: n}, importer.Options{Format: importer.FormatGeneric, Name: "bad.csv"})
		if err != nil {
			t.Fatal(err)
		}
		third := n / 3
		wantCounts := map[string]int{"missing_at": third, "required": third, "invalid_status": third}
		if rep.Rows != n+1 || rep.Created != 1 || rep.Refused != n || !rep.ErrorsTruncated || len(rep.Errors) != importer.MaxReportedErrors ||
			fmt.Sprint(rep.ErrorCounts) != fmt.Sprint(wantCounts) {
			t.Fatalf("%d bad rows: report rows %d created %d refused %d truncated %v listed %d counts %v; want counts %v",
				n, rep.Rows, rep.Created, rep.Refused, rep.ErrorsTruncated, len(rep.Errors), rep.ErrorCounts, wantCounts)
		}
		if e := rep.Errors[importer.MaxReportedErrors-1]; e.Line != importer.MaxReportedErrors+1 {
			t.Errorf("last listed error %+v; want line %d (the first %d in line order)", e, importer.MaxReportedErrors+1, importer.MaxReportedErrors)
		}
		b, _ := json.Marshal(rep)
		text := rep.String()
		if strings.Contains(string(b), "SECRET") || strings.Contains(text, "SECRET") {
			t.Errorf("the report holds a cell value")
		}
		if !strings.Contains(text, fmt.Sprintf("the first %d of %d refused rows", importer.MaxReportedErrors, n)) || !strings.Contains(text, "/api/v1/imports/"+rep.ID+"/errors") {
			t.Errorf("the text report does not say the list is cut short:\n%s", text[len(text)-300:])
		}
		sizes = append(sizes, len(b))

		var out bytes.Buffer
		if err := im.RefusedCSV(ctx, rep.ID, &out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "SECRET") {
			t.Errorf("the error list holds a cell value")
		}
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n+1 || strings.Join(recs[0], ",") != "line,field,code,reason" {
			t.Fatalf("CSV has %d records, header %v; want %d and line,field,code,reason", len(recs), recs[0], n+1)
		}
		for i, r := range recs[1:] {
			if r[0] != strconv.Itoa(i+2) {
				t.Fatalf("record %d is line %s; want %d", i+1, r[0], i+2)
			}
		}
		if got := strings.Join(recs[2], "|"); got != "3|status|invalid_status|status: not subscribed, unsubscribed, cleaned or pending" {
			t.Errorf("line 3: %s", got)
		}
	}
	// 100 times the refused rows: the same report, but for the digits of six counts.
	if sizes[1]-sizes[0] > 6*2 {
		t.Errorf("report JSON is %d bytes for 300 refused rows and %d for 30,000; want the same but for digits", sizes[0], sizes[1])
	}

	if err := im.RefusedCSV(ctx, uuid.NewString(), io.Discard); apperr.KindOf(err) != apperr.NotFound {
		t.Errorf("unknown import: %v; want NotFound", err)
	}
}

// TestRefusedCSVDefusesFormulas: a column name is written by whoever made the file; a cell of
// the error list that a spreadsheet would run is prefixed with a quote.
func TestRefusedCSVDefusesFormulas(t *testing.T) {
	im := newImporter(t)
	ctx := context.Background()
	in := "email,=HYPERLINK(1)\nx@example.com,2026-13-01\n"
	rep, err := im.Import(ctx, strings.NewReader(in), importer.Options{Format: importer.FormatGeneric, Mapping: map[string]string{"optin_time": "=HYPERLINK(1)"}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := im.RefusedCSV(ctx, rep.ID, &out); err != nil {
		t.Fatal(err)
	}
	want := "line,field,code,reason\r\n2,'=HYPERLINK(1),invalid_time,'=HYPERLINK(1): not a time (RFC 3339 or 2006-01-02 15:04:05)\r\n"
	if out.String() != want {
		t.Errorf("CSV %q; want %q", out.String(), want)
	}
}

// BenchmarkImportRefusedRows imports 400,000 refused rows (the reliability trial's D4 shape,
// smaller) and reports the report's JSON size and the live heap after the import: both stay
// flat however many rows are refused (compare -benchtime 1x runs with other n).
func BenchmarkImportRefusedRows(b *testing.B) {
	im := newImporter(b)
	ctx := context.Background()
	const n = 400_000
	for b.Loop() {
		rep, err := im.Import(ctx, &badRows{n: n}, importer.Options{Format: importer.FormatGeneric})
		if err != nil || rep.Refused != n {
			b.Fatal(rep.Refused, err)
		}
		js, _ := json.Marshal(rep)
		b.ReportMetric(float64(len(js)), "report-bytes")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-MiB")
	}
}

// TestStoppedImportTakesEveryRowBeforeTheStop: found by a trial. A row of 3,000 cells at line
// 2512 stopped a file whose first 2,500 rows were good and next 10 bad: only the first 2,000
// (two whole batches) were stored, the 10 refusals were in neither the report nor the stored
// list, and nothing said where the import had got to.
func TestStoppedImportTakesEveryRowBeforeTheStop(t *testing.T) {
	ctx := t.Context()
	im := newImporter(t)
	var in strings.Builder
	in.WriteString("email\n")
	for i := range 2500 {
		fmt.Fprintf(&in, "p%d@example.org\n", i)
	}
	for range 10 {
		in.WriteString("not-an-address\n")
	}
	in.WriteString(strings.Repeat("x,", 3000) + "x\n") // line 2512
	in.WriteString("after@example.org\n")
	rep, err := im.Import(ctx, strings.NewReader(in.String()), importer.Options{Format: importer.FormatGeneric})
	if err == nil || rep.Complete {
		t.Fatalf("import: complete %v, %v; want stopped", rep.Complete, err)
	}
	if rep.Created != 2500 || rep.Refused != 10 || rep.StoredThroughLine != 2511 {
		t.Errorf("created %d, refused %d, stored through line %d; want 2500, 10, 2511", rep.Created, rep.Refused, rep.StoredThroughLine)
	}
	n := 0
	if err := im.RefusedRows(ctx, rep.ID, func(page []importer.RowReport) error { n += len(page); return nil }); err != nil || n != 10 {
		t.Errorf("stored refusals: %d, %v; want 10", n, err)
	}
}
