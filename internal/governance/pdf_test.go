package governance_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/governance"
)

// TestPDFKeepsTheText reads the DPA PDF back with a second, independent program (poppler's
// pdftotext, installed by .ci/run): Polish and Greek names and an underscore signature line print
// as written.
func TestPDFKeepsTheText(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("TILLIT_REQUIRE_PDFTOTEXT") != "" {
			t.Fatalf("pdftotext is required (TILLIT_REQUIRE_PDFTOTEXT is set): %v", err)
		}
		t.Skip("pdftotext not installed (apt-get install poppler-utils); .ci/run requires it")
	}
	md := "# Data processing agreement\n\nBetween **Żółć Sp. z o.o.** and Ελληνικά ΑΕ.\n\n| Sub-processor | Country |\n|---|---|\n| Łódź \\| Kraków | PL |\n\nSigned: ______________ for the customer\n"
	pdf, err := governance.PDF("DPA", md)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pdftotext", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := strings.Join(strings.Fields(string(out)), " ")
	for _, want := range []string{"Data processing agreement", "Żółć Sp. z o.o.", "Ελληνικά ΑΕ", "Łódź | Kraków", "Signed: ______________ for the customer"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF lacks %q:\n%s", want, text)
		}
	}
}

// TestPDFRefusesTextItCannotPrint: found by a fresh-user trial. A customer named in Japanese
// script got an agreement whose PDF showed empty boxes for its name. The PDF is refused
// (format, pdf_unprintable) and the HTML serves; Latin, Greek and Cyrillic names still print.
func TestPDFRefusesTextItCannotPrint(t *testing.T) {
	_, err := governance.PDF("DPA", "# Agreement\n\nCustomer: Ünïcødé 株式会社 Ørsted & Søn\n")
	if e := apperr.As(err); e == nil || e.Field != "format" || e.Reason != governance.ReasonPDFUnprintable || strings.Contains(e.Message, "株") {
		t.Errorf("PDF with Japanese script: %v; want Invalid format pdf_unprintable, not echoing the text", err)
	}
	if _, err := governance.PDF("DPA", "# Agreement\n\nCustomer: Żółć Ελληνικά Москва Ørsted\n\n| a | b |\n|---|---|\n| – | “x” |\n"); err != nil {
		t.Errorf("PDF with Polish, Greek and Cyrillic: %v", err)
	}
}
