package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// TestServeLogsRepairs (review of issue 12; passes): store.Open now makes the repair of a split
// commit and hands it to store.Config.OnRepair, and serve's logRepairs logs it; a later repair
// (another process, here tillit import, killed between the two files' commits beside the running
// server) is logged too, as before the move. No test pinned either log line.
func TestServeLogsRepairs(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: the repair it logs is of a crash between the commits of the data file and of the key store (killvfs); PostgreSQL commits both schemas in one transaction")
	t.Run("at open", func(t *testing.T) {
		base := t.TempDir()
		setup := startChild(t, base, "")
		admin := setup.token
		setup.stop()
		arm := filepath.Join(base, "arm")
		c := startChild(t, base, "keys.db-wal,write,1,"+arm)
		if err := os.WriteFile(arm, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		c.call(admin, "POST", "/api/v1/contacts", map[string]any{"email": "split@example.org"}, nil)
		if !c.killedBySIGKILL() {
			t.Fatal("the child was not killed between the files")
		}
		r := startChild(t, base, "")
		r.stop()
		if !strings.Contains(r.stderr.String(), "repaired the store after a crash between the data file's and the key store's commits") {
			t.Errorf("the repair at open is not logged:\n%s", r.stderr.String())
		}
	})
	t.Run("later", func(t *testing.T) {
		base := t.TempDir()
		srv := startChild(t, base, "")
		csv := filepath.Join(t.TempDir(), "a.csv")
		if err := os.WriteFile(csv, []byte("email\nanna@example.org\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args, _ := json.Marshal([]string{"import", "--data", base, "--format", "generic", csv})
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "TILLIT_CHILD_ARGS="+string(args), "TILLIT_CHILD_KILL=keys.db-wal,write,1,", "TILLIT_SQLITE_VFS=kill")
		_ = cmd.Run()
		if st := srv.call(srv.token, "POST", "/api/v1/contacts", map[string]any{"email": "after@example.org"}, nil); st != 201 {
			t.Fatalf("a write after the import died: %d", st)
		}
		for range 50 {
			if strings.Contains(srv.stderr.String(), "another process died") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		srv.stop()
		if !strings.Contains(srv.stderr.String(), "repaired the store after another process died between the data file's and the key store's commits") {
			t.Errorf("the later repair is not logged:\n%s", srv.stderr.String())
		}
	})
}
