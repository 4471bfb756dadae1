package app_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestErasureRemovesQueuedAndWrittenMail: with the default file transport, a confirmation mail is
// an .eml file under the data directory; erasing the person removes it and the outbox row, so no
// plaintext of the person remains in any file.
func TestErasureRemovesQueuedAndWrittenMail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := apptest.Serve(t, apptest.Dir(dir))
	resp, err := http.PostForm(p.Base+"/p/subscribe", url.Values{"email": {"Maja.Lindgren@example.se"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var files []string
	for deadline := time.Now().Add(60 * time.Second); len(files) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		files, _ = filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	}
	if len(files) != 1 {
		t.Fatalf("%d .eml files; want the confirmation", len(files))
	}
	b, _ := os.ReadFile(files[0])
	if !bytes.Contains(b, []byte("maja.lindgren@example.se")) {
		t.Fatalf("the .eml does not name its recipient: %s", b)
	}
	var l apptest.List
	p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": "maja.lindgren@example.se"}, &l)
	if st := p.Do("DELETE", "/api/v1/contacts/"+l.Items[0].ID, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	p.Close()
	apptest.AssertNoPlaintext(t, dir, []string{"maja.lindgren@example.se", "Lindgren"})
}
