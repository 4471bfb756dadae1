package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/tillit/tillit/internal/cli"
	"github.com/tillit/tillit/internal/store/sqlite/killvfs"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// The crash tests run tillit as a child process (this test binary, re-executed with
// TILLIT_CHILD_ARGS) and kill it: at a chosen write of one of the two files (killvfs), or at a
// random moment under concurrent writes. After each kill the store must open, hold every
// acknowledged write, hold nothing half-written, verify, and take a new write.

func TestMain(m *testing.M) {
	if args := os.Getenv("TILLIT_CHILD_ARGS"); args != "" {
		os.Exit(childMain(args))
	}
	os.Exit(m.Run())
}

// childMain is the child process: tillit with the arguments in TILLIT_CHILD_ARGS (JSON), and
// the kill VFS registered as "kill" when TILLIT_CHILD_KILL says "suffix,op,n,armfile".
func childMain(args string) int {
	var a []string
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		fmt.Fprintln(os.Stderr, "TILLIT_CHILD_ARGS:", err)
		return 2
	}
	if plan := os.Getenv("TILLIT_CHILD_KILL"); plan != "" {
		p := strings.Split(plan, ",")
		n, _ := strconv.Atoi(p[2])
		killvfs.Register("kill", killvfs.Plan{Suffix: p[0], Op: p[1], N: n, ArmFile: p[3]})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Main(ctx, cli.Env{Args: a, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
}

// child is one tillit serve in its own process.
type child struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	base   string
	token  string
	stderr *syncBuffer
	exited chan struct{}
	dying  atomic.Bool // kill was called: calls from now on are not counted
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startChild starts tillit serve on dir; kill is "" or a TILLIT_CHILD_KILL plan.
func startChild(t *testing.T, dir, kill string) *child {
	t.Helper()
	args, _ := json.Marshal([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TILLIT_CHILD_ARGS="+string(args))
	if kill != "" {
		cmd.Env = append(cmd.Env, "TILLIT_CHILD_KILL="+kill, "TILLIT_SQLITE_VFS=kill")
	}
	c := &child{t: t, dir: dir, cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			c.stderr.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(c.exited)
	}()
	select {
	case a := <-addr:
		c.base = "http://" + a
	case <-c.exited:
		t.Fatalf("tillit serve exited before listening:\n%s", c.stderr.String())
	}
	c.token = tokenRE.FindString(c.stderr.String())
	t.Cleanup(c.kill)
	return c
}

// kill ends the child with SIGKILL (a no-op once it has exited) and waits for it.
func (c *child) kill() {
	c.dying.Store(true)
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// stop ends the child with SIGTERM (a clean shutdown, which checkpoints) and waits.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	<-c.exited
	if !c.cmd.ProcessState.Success() {
		c.t.Fatalf("tillit serve did not stop cleanly: %v\n%s", c.cmd.ProcessState, c.stderr.String())
	}
}

// killedBySIGKILL reports whether the child died of SIGKILL (its kill VFS fired).
func (c *child) killedBySIGKILL() bool {
	<-c.exited
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// call sends one request with token (JSON body unless body is []byte, sent as text/csv) and
// returns the status, or 0 when the connection failed (the child died).
func (c *child) call(token, method, path string, body any, out any) int {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "text/csv"
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

// lookup returns how many contacts hold the address.
func (c *child) lookup(t *testing.T, token, email string) int {
	t.Helper()
	var res struct{ Items []any }
	if st := c.call(token, "POST", "/api/v1/contacts/lookup", map[string]any{"email": email}, &res); st != 200 {
		t.Fatalf("lookup: %d", st)
	}
	return len(res.Items)
}

// checkWhole asserts what every store must show after a restart: ready, the audit chain
// verifies, every contact listed reads, and a new write succeeds.
func (c *child) checkWhole(t *testing.T, token string) { c.checkStore(t, token, true) }

// checkStore is checkWhole; with readEach false it lists the contacts without reading each.
func (c *child) checkStore(t *testing.T, token string, readEach bool) {
	t.Helper()
	var ready struct{ Status, Reason string }
	if st := c.call("", "GET", "/readyz", nil, &ready); st != 200 {
		t.Errorf("readyz: %d %+v", st, ready)
	}
	var v struct {
		OK          bool   `json:"ok"`
		Reason      string `json:"reason"`
		FirstBroken int64  `json:"first_broken"`
	}
	if st := c.call(token, "GET", "/api/v1/audit/verify", nil, &v); st != 200 || !v.OK {
		t.Errorf("audit verify: %d %+v", st, v)
	}
	for cursor := ""; ; {
		var page struct {
			Items      []struct{ ID string }
			NextCursor string `json:"next_cursor"`
		}
		if st := c.call(token, "GET", "/api/v1/contacts?limit=200&cursor="+cursor, nil, &page); st != 200 {
			t.Fatalf("list contacts: %d", st)
		}
		for _, it := range page.Items {
			if !readEach {
				break
			}
			if st := c.call(token, "GET", "/api/v1/contacts/"+it.ID, nil, nil); st != 200 {
				t.Errorf("contact %s listed but reads %d (half-written?)", it.ID, st)
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	var created struct{ ID string }
	if st := c.call(token, "POST", "/api/v1/contacts", map[string]any{"email": fmt.Sprintf("probe-%d@example.org", time.Now().UnixNano())}, &created); st != 201 {
		t.Errorf("a new write after the restart: %d", st)
	}
}

// copyTree copies a stopped store's directory with its subdirectories (mail/).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// filesHoldingText lists the files under dir (recursively) whose bytes contain text, as they
// are or under their disk encryption (testdb.Decrypted: the SQLite files).
func filesHoldingText(t *testing.T, dir, text string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if pt, _ := testdb.Decrypted(t, dir, b); bytes.Contains(b, []byte(text)) || bytes.Contains(pt, []byte(text)) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// storeFacts opens the stopped store's files directly and counts what must never be: keys
// without an owner, contacts, requests or processors without a key, and the anchor's distance
// from the chain's head.
type storeFacts struct {
	OrphanKeys, KeylessContacts, KeylessRequests, KeylessProcessors int
	HeadSeq, AnchorSeq                                              int64
}

func readFacts(t *testing.T, dir string) storeFacts {
	t.Helper()
	db := testdb.SQL(t, dir) // under the disk key
	defer db.Close()
	ctx := context.Background()
	var f storeFacts
	for _, q := range []struct {
		dst any
		sql string
	}{
		{&f.OrphanKeys, "SELECT count(*) FROM keystore.contact_keys WHERE contact_id NOT IN (SELECT id FROM contacts) AND contact_id NOT IN (SELECT id FROM requests WHERE key_destroyed = 0) AND contact_id NOT IN (SELECT id FROM processors)"},
		{&f.KeylessContacts, "SELECT count(*) FROM contacts WHERE id NOT IN (SELECT contact_id FROM keystore.contact_keys)"},
		{&f.KeylessRequests, "SELECT count(*) FROM requests WHERE key_destroyed = 0 AND id NOT IN (SELECT contact_id FROM keystore.contact_keys)"},
		{&f.KeylessProcessors, "SELECT count(*) FROM processors WHERE id NOT IN (SELECT contact_id FROM keystore.contact_keys)"},
		{&f.HeadSeq, "SELECT coalesce(max(seq), 0) FROM audit_events"},
		{&f.AnchorSeq, "SELECT coalesce((SELECT seq FROM keystore.audit_anchor WHERE id = 1), 0)"},
	} {
		if err := db.QueryRowContext(ctx, q.sql).Scan(q.dst); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return f
}

func (f storeFacts) check(t *testing.T) {
	t.Helper()
	if f.OrphanKeys+f.KeylessContacts+f.KeylessRequests+f.KeylessProcessors != 0 || f.HeadSeq != f.AnchorSeq {
		t.Errorf("store after restart: %+v; want no orphan key, no keyless owner, the anchor at the head", f)
	}
}

// TestCrashBetweenTheTwoFiles kills tillit serve inside the commit of a create, a consent, an
// erasure and an import: before the data file's log is written, between the data file's and
// the key store's (the split the reliability trial found: 1 kill in 12 left a store that
// refused every audited call), and after both. Each time the restarted store is whole, and the
// write is either wholly there or wholly absent: an erasure that reached the data file is
// finished, never undone.
func TestCrashBetweenTheTwoFiles(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: it kills tillit between the commits of the data file and of the key store (killvfs); PostgreSQL commits both schemas in one transaction")
	base := t.TempDir()
	setup := startChild(t, base, "")
	admin := setup.token
	var victim struct{ ID string }
	if st := setup.call(admin, "POST", "/api/v1/contacts", map[string]any{"email": "victim@example.org", "first_name": "Vera"}, &victim); st != 201 {
		t.Fatalf("fixture: %d", st)
	}
	// A sign-up gives the victim a mail file (the file transport): an erasure must take it along
	// even when the process dies between the commit and the file's removal.
	if st := setup.call("", "POST", "/p/subscribe", map[string]any{"email": "victim@example.org", "purposes": []string{"newsletter"}}, nil); st != 202 {
		t.Fatalf("sign-up: %d", st)
	}
	for range 200 {
		if len(filesHoldingText(t, base, "victim@example.org")) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(filesHoldingText(t, base, "victim@example.org")) == 0 {
		t.Fatal("the confirmation mail was never written")
	}
	setup.stop()

	points := []struct{ name, plan string }{
		{"before-data", "tillit.db-wal,write,1"},
		{"between", "keys.db-wal,write,1"},
		// The clean stop emptied the logs, so the key store's first sync is its new log's
		// header (synchronous=FULL) and the second the commit's: both files committed.
		{"after-both", "keys.db-wal,sync,2"},
	}
	ops := []struct {
		name string
		do   func(c *child) int
		// after checks the operation's outcome on the restarted store for the kill point.
		after func(t *testing.T, c *child, point string)
	}{
		{"create", func(c *child) int {
			return c.call(admin, "POST", "/api/v1/contacts", map[string]any{"email": "new.person@example.org", "last_name": "Nyström"}, nil)
		}, func(t *testing.T, c *child, point string) {
			want := map[string]int{"before-data": 0, "between": 0, "after-both": 1}[point]
			if n := c.lookup(t, admin, "new.person@example.org"); n != want {
				t.Errorf("contacts found for the address created at the kill: %d, want %d", n, want)
			}
		}},
		{"consent", func(c *child) int {
			return c.call(admin, "POST", "/api/v1/contacts/"+victim.ID+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil)
		}, func(t *testing.T, c *child, point string) {
			var cs struct{ Events []any }
			c.call(admin, "GET", "/api/v1/contacts/"+victim.ID+"/consents", nil, &cs)
			want := map[string]int{"before-data": 1, "between": 2, "after-both": 2}[point] // the sign-up's request, then this
			if len(cs.Events) != want {
				t.Errorf("consent events after the kill: %d, want %d", len(cs.Events), want)
			}
		}},
		{"erase", func(c *child) int {
			return c.call(admin, "DELETE", "/api/v1/contacts/"+victim.ID, nil, nil)
		}, func(t *testing.T, c *child, point string) {
			st := c.call(admin, "GET", "/api/v1/contacts/"+victim.ID, nil, nil)
			want := map[string]int{"before-data": 200, "between": 404, "after-both": 404}[point]
			if st != want {
				t.Errorf("the contact erased at the kill reads %d, want %d", st, want)
			}
			if got := filesHoldingText(t, c.dir, "victim@example.org"); st == 404 && len(got) > 0 {
				t.Errorf("the erased person's address is still in %v", got)
			}
		}},
		{"import", func(c *child) int {
			csv := "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME\nimp1@example.org,Ida,2,2025-01-02 03:04:05,2025-01-02 03:05:05\nimp2@example.org,Ivo,2,2025-01-02 03:04:05,2025-01-02 03:05:05\n"
			return c.call(admin, "POST", "/api/v1/imports?format=mailchimp", []byte(csv), nil)
		}, func(t *testing.T, c *child, point string) {
			want := map[string]int{"before-data": 0, "between": 0, "after-both": 1}[point]
			for _, e := range []string{"imp1@example.org", "imp2@example.org"} {
				if n := c.lookup(t, admin, e); n != want {
					t.Errorf("contacts found for an address imported at the kill: %d, want %d", n, want)
				}
			}
		}},
	}
	for _, op := range ops {
		for _, pt := range points {
			t.Run(op.name+"/"+pt.name, func(t *testing.T) {
				dir := t.TempDir()
				copyTree(t, base, dir)
				arm := filepath.Join(dir, "arm")
				c := startChild(t, dir, pt.plan+","+arm)
				if err := os.WriteFile(arm, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if st := op.do(c); st != 0 {
					t.Fatalf("%s answered %d: the kill point was never reached", op.name, st)
				}
				if !c.killedBySIGKILL() {
					t.Fatalf("the child did not die of SIGKILL: %v\n%s", c.cmd.ProcessState, c.stderr.String())
				}
				// A command that only reads, run first, sees the repaired store too.
				if code, out, errs := runCLI(t, "audit", "verify", "--data", dir); code != 0 {
					t.Errorf("tillit audit verify after the kill: exit %d\n%s%s", code, out, errs)
				}
				r := startChild(t, dir, "")
				r.checkWhole(t, admin)
				op.after(t, r, pt.name)
				r.stop()
				readFacts(t, dir).check(t)
			})
		}
	}
}

// TestRandomKills kills tillit serve at a random moment while four clients create contacts,
// record consent and erase contacts, then checks that every acknowledged write survived, every
// acknowledged erasure held, and the store is whole. TILLIT_LONG=1 runs 60 kills instead of 4.
func TestRandomKills(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: it counts what a kill left half done between the data file and the key store, reading both files; PostgreSQL commits both schemas in one transaction")
	kills := 4
	if os.Getenv("TILLIT_LONG") != "" {
		kills = 60
	}
	dir := t.TempDir()
	var admin string
	var mu sync.Mutex
	alive := map[string]string{} // acknowledged contacts: id → e-mail
	erased := map[string]bool{}  // acknowledged erasures
	consents := map[string]int{} // acknowledged consent events per contact
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	seq, created := 0, 0
	statuses := map[int]int{}    // answers to erasures
	touched := map[string]bool{} // contacts written since the last check
	for k := range kills {
		c := startChild(t, dir, "")
		if admin == "" {
			admin = c.token
		}
		// Between kills, the writes of the last round; at the end, every write of every round.
		c.checkStore(t, admin, false)
		checkAcknowledged(t, c, admin, alive, erased, consents, touched)
		touched = map[string]bool{}
		stopAt := time.Now().Add(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(k), uint64(w)))
				for !c.dying.Load() {
					mu.Lock()
					seq++
					n := seq
					var pick string
					for id := range alive {
						pick = id
						break
					}
					mu.Unlock()
					switch x := r.IntN(10); {
					case x < 5 || pick == "":
						email := fmt.Sprintf("k%d.w%d.n%d@example.org", k, w, n)
						var cr struct{ ID string }
						if c.call(admin, "POST", "/api/v1/contacts", map[string]any{"email": email}, &cr) == 201 {
							mu.Lock()
							alive[cr.ID] = email
							touched[cr.ID] = true
							created++
							mu.Unlock()
						}
					case x < 8:
						if c.call(admin, "POST", "/api/v1/contacts/"+pick+"/consents", map[string]any{"purpose": "newsletter", "state": "dpv:ConsentGiven", "method": "web-form"}, nil) == 201 {
							mu.Lock()
							consents[pick]++
							touched[pick] = true
							mu.Unlock()
						}
					default:
						mu.Lock()
						delete(alive, pick) // in flight: either outcome is right until acknowledged
						mu.Unlock()
						st := c.call(admin, "DELETE", "/api/v1/contacts/"+pick, nil, nil)
						mu.Lock()
						if st == 204 {
							erased[pick] = true
							touched[pick] = true
						}
						statuses[st]++
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Until(stopAt))
		c.kill()
		wg.Wait()
	}
	c := startChild(t, dir, "")
	c.checkWhole(t, admin)
	checkAcknowledged(t, c, admin, alive, erased, consents, nil)
	c.stop()
	readFacts(t, dir).check(t)
	t.Logf("%d kills: %d contacts created, %d alive, %d erased, %d with consent; erasures answered %v", kills, created, len(alive), len(erased), len(consents), statuses)
}

// checkAcknowledged reads back every acknowledged write about the contacts in only (all when
// only is nil).
func checkAcknowledged(t *testing.T, c *child, admin string, alive map[string]string, erased map[string]bool, consents map[string]int, only map[string]bool) {
	t.Helper()
	for id := range alive {
		if only != nil && !only[id] {
			continue
		}
		if st := c.call(admin, "GET", "/api/v1/contacts/"+id, nil, nil); st != 200 {
			t.Errorf("acknowledged contact %s reads %d", id, st)
		}
		if n := consents[id]; n > 0 {
			var cs struct{ Events []any }
			c.call(admin, "GET", "/api/v1/contacts/"+id+"/consents", nil, &cs)
			if len(cs.Events) < n {
				t.Errorf("contact %s: %d consent events, %d acknowledged", id, len(cs.Events), n)
			}
		}
	}
	for id := range erased {
		if only != nil && !only[id] {
			continue
		}
		if st := c.call(admin, "GET", "/api/v1/contacts/"+id, nil, nil); st != 404 {
			t.Errorf("acknowledged erasure of %s undone: reads %d", id, st)
		}
	}
}

// TestCrashInTheFirstStart kills the first start of a new store at its first few writes to the
// key store: inside the migrations, each of which spans both files (a store whose data file
// recorded a migration the key store lost never opened again), and around the admin token.
// Each time the next start opens a whole store.
func TestCrashInTheFirstStart(t *testing.T) {
	testdb.RequireSQLite(t, "SQLite's files: it kills tillit between the commits of the data file and of the key store (killvfs); PostgreSQL commits both schemas in one transaction")
	for n := 1; n <= 4; n++ {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			dir := t.TempDir()
			args, _ := json.Marshal([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0"})
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "TILLIT_CHILD_ARGS="+string(args),
				"TILLIT_CHILD_KILL=keys.db-wal,write,"+strconv.Itoa(n)+",", "TILLIT_SQLITE_VFS=kill")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			_ = cmd.Run()
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the first start was not killed at write %d: %v\n%s", n, cmd.ProcessState, stderr.String())
			}
			c := startChild(t, dir, "")
			token := c.token
			if token == "" { // the killed start made the admin token but died before printing it
				code, out, errs := runCLI(t, "token", "create", "--role", "admin", "--name", "after the crash", "--data", dir)
				if code != 0 {
					t.Fatalf("token create: %d %s", code, errs)
				}
				token = strings.TrimSpace(out)
			}
			c.checkWhole(t, token)
			c.stop()
			readFacts(t, dir).check(t)
		})
	}
}
