package app_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestErasureLeavesNoMailFileWithTheAddress: found by a reliability trial (D10). With the default
// file transport, the erasure request's verification mail and receipt stayed in mail/ with the
// person's address, while the README promised that no plaintext of the person remains in any
// file. The request's files now go when its key does, once the receipt is written.
func TestErasureLeavesNoMailFileWithTheAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	const addr = "ylva.mailfile@example.org"
	var c apptest.Contact
	if st := p.Do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Ylva"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	var r apptest.Request
	if st := p.Do("POST", "/api/v1/requests", map[string]any{"type": "erasure", "channel": "email", "email": addr, "verify_by_email": true}, &r); st != 201 {
		t.Fatalf("request: %d", st)
	}
	mailFiles := func() []string {
		files, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
		return files
	}
	var link string
	for deadline := time.Now().Add(60 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, f := range mailFiles() { // the outbox writes it in the background
			b, _ := os.ReadFile(f)
			link = apptest.VerifyLink.FindString(strings.ReplaceAll(string(b), "=\r\n", ""))
		}
	}
	if link == "" {
		t.Fatal("no verification mail written")
	}
	v, _ := url.Parse(link)
	if st, page := apptest.PostForm(t, p.Base, v.Path, nil); st != 200 || !strings.Contains(page, "is confirmed") {
		t.Fatalf("verify: %d %s", st, page)
	}
	if st := p.Do("POST", "/api/v1/requests/"+r.ID+"/complete", map[string]any{"note": "no legal hold"}, nil); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	// The receipt is written, then the request's key destroyed and its files removed.
	var full struct {
		Erased bool `json:"erased"`
	}
	for deadline := time.Now().Add(60 * time.Second); !full.Erased && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.Do("GET", "/api/v1/requests/"+r.ID, nil, &full)
	}
	if !full.Erased {
		t.Fatal("the erasure request's key was not destroyed after its receipt")
	}
	var receipt struct {
		Erased []struct{ Table string }
	}
	if st := p.Do("GET", "/api/v1/requests/"+r.ID+"/receipt", nil, &receipt); st != 200 || len(receipt.Erased) == 0 {
		t.Errorf("receipt through the API: %d %+v; want it kept, without the address", st, receipt)
	}
	p.Close()
	if files := mailFiles(); len(files) != 0 {
		t.Errorf("mail files left: %v; want none about the erased person", files)
	}
	apptest.AssertNoPlaintext(t, dir, []string{addr, "ylva.mailfile", "Ylva"})
}
