package importer

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// refusedPage is how many refused rows RefusedRows reads per read transaction.
const refusedPage = 1000

// RefusedRows reads every refused row of import id in line order, a page of at most 1,000 rows
// per short read transaction, and calls each with every page (at least once: with an empty page
// when the import refused nothing). Memory stays at one page however many rows were refused,
// and no transaction stays open while each runs (a slow client holds nothing).
//
// Errors: NotFound (internal/apperr) when no import has this id, before each is called; a store
// error; each's error, which stops the reading.
func (im *Importer) RefusedRows(ctx context.Context, id string, each func([]RowReport) error) error {
	after := 0
	for {
		var page []RowReport
		err := im.Store.View(ctx, func(tx Tx) error {
			var err error
			page, err = tx.ImportErrors(ctx, id, after, refusedPage)
			return err
		})
		if err != nil {
			return err
		}
		if err := each(page); err != nil {
			return err
		}
		if len(page) < refusedPage {
			return nil
		}
		after = page[len(page)-1].Line
	}
}

// RefusedCSV writes every refused row of import id to w as CSV (RFC 4180, UTF-8, CRLF line
// ends): the header line "line,field,code,reason", then one record per row in line order. A cell
// a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return; a
// column name can) is prefixed with a single quote (OWASP, CSV injection). Nothing is written
// when the import is unknown.
//
// Errors: as RefusedRows; a write error of w.
func (im *Importer) RefusedCSV(ctx context.Context, id string, w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	header := false
	err := im.RefusedRows(ctx, id, func(page []RowReport) error {
		if !header {
			header = true
			if err := cw.Write([]string{"line", "field", "code", "reason"}); err != nil {
				return err
			}
		}
		for _, r := range page {
			if err := cw.Write([]string{strconv.Itoa(r.Line), defuse(r.Field), defuse(r.Code), defuse(r.Reason)}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// defuse prefixes a cell a spreadsheet could run as a formula with a single quote (OWASP, CSV
// injection): one starting with =, +, -, @, a tab or a carriage return.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
