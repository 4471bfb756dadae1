package cli_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// TestErasureOnAnotherNodeRemovesMailFiles: found by a two-node trial on PostgreSQL with the
// default file transport. "Erasing a person removes their queued and written mail" (README):
// but each node writes the messages it hands over under its own data directory, and an erasure
// removes the files of the node that ran it only (AfterErase / RemoveContact). A person erased
// through node b keeps their message (address and text, in plaintext) under node a's mail/,
// until a restarts and sweeps (sweepMailFiles). The test sends a campaign, erases its recipient
// through the node that did not write the file, and looks for the file on both nodes.
func TestErasureOnAnotherNodeRemovesMailFiles(t *testing.T) {
	_, dbURL := pgtest.FreshSchema(t, "tm_")
	t.Setenv("TILLIT_DATABASE_URL", dbURL)
	t.Setenv("TILLIT_SMTP_URL", "") // the file transport
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startChild(t, dirA, "")
	for _, f := range []string{"root.key", "keysets.json"} {
		b, err := os.ReadFile(filepath.Join(dirA, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirB, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := startChild(t, dirB, "")
	ca, cb := apptest.NewClient(t, a.base, a.token), apptest.NewClient(t, b.base, a.token)
	var rep struct{ Created int }
	csv := "Email Address,OPTIN_TIME,CONFIRM_TIME\nperson@example.org,2026-01-01 09:00:00,2026-01-01 09:05:00\n"
	if st := ca.ImportCSV("format=mailchimp&purpose=newsletter", csv, &rep); st != 200 || rep.Created != 1 {
		t.Fatalf("import: %d %+v", st, rep)
	}
	var camp struct{ ID string }
	if st := ca.Do("POST", "/api/v1/campaigns", map[string]any{"purpose": "newsletter", "subject": "News", "text": "Hello."}, &camp); st != 201 {
		t.Fatalf("campaign: %d", st)
	}
	if st := ca.Do("POST", "/api/v1/campaigns/"+camp.ID+"/send", nil, nil); st != 202 {
		t.Fatalf("send: %d", st)
	}
	ca.WaitCampaign(camp.ID, func(c apptest.Campaign) bool { return c.Status == "sent" && c.Counts.Queued == 0 })
	files := func(dir string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
		return m
	}
	writer, eraser := "a", cb // erase through the node that did not write the file
	if len(files(dirA)) == 0 {
		writer, eraser = "b", ca
	}
	if len(files(dirA))+len(files(dirB)) != 1 {
		t.Fatalf("mail files after the campaign: a %v, b %v; want one", files(dirA), files(dirB))
	}
	var found struct{ Items []struct{ ID string } }
	if st := eraser.Do("GET", "/api/v1/contacts?email=person@example.org", nil, &found); st != 200 || len(found.Items) != 1 {
		t.Fatalf("find: %d %+v", st, found)
	}
	if st := eraser.Do("DELETE", "/api/v1/contacts/"+found.Items[0].ID, nil, nil); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	// Give the writer's node every chance (its caches, its outbox and sweep) before looking.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && len(files(dirA))+len(files(dirB)) > 0; {
		time.Sleep(100 * time.Millisecond)
	}
	if left := append(files(dirA), files(dirB)...); len(left) > 0 {
		t.Errorf("the erased person's message file %v, written by node %s, is still there 15 s after the erasure on the other node; want it removed (README: erasing a person removes their written mail)", left, writer)
	}
}
