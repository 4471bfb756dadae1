package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/cli"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// rotLoad is traffic on a running server while a key rotates: writers create contacts, readers
// read known contacts and look them up by e-mail. Every answer that is not the expected one is
// kept.
type rotLoad struct {
	p    *program
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	mu     sync.Mutex
	emails map[string]string // contact id → address
	bad    []string
	calls  int
}

func startRotLoad(p *program, emails map[string]string) *rotLoad {
	l := &rotLoad{p: p, stop: make(chan struct{}), emails: emails}
	p.t.Cleanup(func() { l.end() }) // before the server stops, when a test ends early
	for w := range 2 {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				addr := fmt.Sprintf("during-%d-%d@example.net", w, i)
				var c contactJSON
				st := l.p.client().Do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Rota"}, &c)
				l.note(st == 201, "create: %d", st)
				if st == 201 {
					l.mu.Lock()
					l.emails[c.ID] = addr
					l.mu.Unlock()
				}
			}
		})
	}
	for range 2 {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				id, addr := l.pick()
				var c contactJSON
				st := l.p.client().Do("GET", "/api/v1/contacts/"+id, nil, &c)
				l.note(st == 200 && c.Email == addr, "read %s: %d", id, st)
				var found listJSON
				st = l.p.client().Do("GET", "/api/v1/contacts?email="+url.QueryEscape(addr), nil, &found)
				l.note(st == 200 && len(found.Items) == 1 && found.Items[0].ID == id, "lookup of %s: %d, %d found", id, st, len(found.Items))
			}
		})
	}
	return l
}

func (l *rotLoad) pick() (string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := rand.IntN(len(l.emails))
	for id, addr := range l.emails {
		if n == 0 {
			return id, addr
		}
		n--
	}
	panic("unreachable")
}

func (l *rotLoad) note(ok bool, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if !ok && len(l.bad) < 20 {
		l.bad = append(l.bad, fmt.Sprintf(format, args...))
	}
}

// end stops the traffic and returns the contacts known, the failures and the number of calls.
func (l *rotLoad) end() (map[string]string, []string, int) {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	return l.emails, l.bad, l.calls
}

// listEmails returns every contact of the server, id → address.
func listEmails(t *testing.T, p *program) map[string]string {
	t.Helper()
	out := map[string]string{}
	for cursor := ""; ; {
		var page listJSON
		if st := p.do("GET", "/api/v1/contacts?limit=200&cursor="+cursor, nil, &page); st != 200 {
			t.Fatalf("list contacts: %d", st)
		}
		for _, c := range page.Items {
			out[c.ID] = c.Email
		}
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

// wrapInfo reads the wrap keyset's keys from dir's keysets.json with its root key.
func wrapInfo(t *testing.T, dir string) keys.KeysetInfo {
	t.Helper()
	root, _, err := keys.OpenRootFile(filepath.Join(dir, "root.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	info, err := keys.ReadInfo(filepath.Join(dir, "keysets.json"), root)
	if err != nil {
		t.Fatal(err)
	}
	return info[keys.KeysetWrap]
}

// checkAfterRotation restarts the server on dir (nothing cached: every data key is unwrapped
// again from the store) and checks that every contact of want reads with its address, that each
// is found by its address, and that the audit log verifies.
func checkAfterRotation(t *testing.T, dir, token string, want map[string]string, env map[string]string) {
	t.Helper()
	p := startProgramEnv(t, dir, env)
	defer p.stop()
	p.token = token // printed by the first start only
	got := listEmails(t, p)
	if len(got) != len(want) {
		t.Errorf("%d contacts listed after the rotation; want %d", len(got), len(want))
	}
	for id, addr := range want {
		var c contactJSON
		if st := p.do("GET", "/api/v1/contacts/"+id, nil, &c); st != 200 || c.Email != addr {
			t.Errorf("contact %s after the rotation and a restart: %d, address %q; want 200 and %q", id, st, c.Email, addr)
			continue
		}
		var found listJSON
		if st := p.do("GET", "/api/v1/contacts?email="+url.QueryEscape(addr), nil, &found); st != 200 || len(found.Items) != 1 || found.Items[0].ID != id {
			t.Errorf("lookup of contact %s by its address: %d, %+v", id, st, found.Items)
		}
	}
	args := []string{"audit", "verify", "--data", dir}
	if u := env["TILLIT_DATABASE_URL"]; u != "" {
		args = append(args, "--database-url", u)
	}
	if code, out, stderr := runCLI(t, args...); code != 0 {
		t.Errorf("audit verify after the rotation: exit %d\n%s%s", code, out, stderr)
	}
}

// TestRotateWrapWhileServing rotates the wrap keyset with tillit keys rotate --wrap while a
// server takes writes, reads and lookups by e-mail: none fails, the server wraps new keys under
// the new key without a restart, the old key is gone from keysets.json at the end, and after a
// restart (no key cached) every contact, those written during the rotation included, reads and
// is found by its address, and the audit chain verifies.
func TestRotateWrapWhileServing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 300)
	before := wrapInfo(t, dir)
	if len(before.Keys) != 1 {
		t.Fatalf("wrap keyset before: %v; want one key", before)
	}
	p := startProgram(t, dir)
	load := startRotLoad(p, listEmails(t, p))

	code, out, stderr := runCLI(t, "keys", "rotate", "--wrap", "--data", dir, "--batch", "20")
	emails, bad, calls := load.end()
	p.stop()
	if code != 0 {
		t.Fatalf("keys rotate --wrap: exit %d\n%s", code, stderr)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d calls during the rotation failed, first: %q", len(bad), calls, bad)
	}
	var sum keys.WrapSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	after := wrapInfo(t, dir)
	if len(after.Keys) != 1 || after.Primary != sum.Added || sum.Added == before.Primary {
		t.Errorf("wrap keyset after: %v (summary %+v); want the new key %d alone", after, sum, sum.Added)
	}
	if len(sum.Deleted) != 1 || sum.Deleted[0] != before.Primary || sum.Rewrapped < 300 || sum.Lost != 0 {
		t.Errorf("summary %+v; want key %d deleted, at least 300 re-wrapped, none lost", sum, before.Primary)
	}
	for _, step := range []string{"added", "is primary", "re-wrapped under key", "disabled", "deleted"} {
		if !strings.Contains(stderr, step) {
			t.Errorf("the progress does not say %q:\n%s", step, stderr)
		}
	}
	if len(emails) <= 300 {
		t.Errorf("%d contacts; want writes during the rotation beyond the 300 imported", len(emails))
	}
	checkAfterRotation(t, dir, p.token, emails, nil)
}

// TestRotateWrapKilledResumes kills tillit keys rotate --wrap (SIGKILL, a child process) in the
// middle of the re-wrap, beside a running server, and runs it again: it continues (re-wrapping
// only what the killed run had not), ends with the new key alone, and every contact reads.
func TestRotateWrapKilledResumes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 600)
	old := wrapInfo(t, dir).Primary
	p := startProgram(t, dir)
	emails := listEmails(t, p)

	killChildAt(t, withStore(t, []string{"keys", "rotate", "--wrap", "--data", dir, "--batch", "5"}, nil), "data keys read (", "keys rotate (mid-re-wrap)")
	mid := wrapInfo(t, dir)
	if len(mid.Keys) != 2 || mid.Primary == old {
		t.Fatalf("wrap keyset after the kill: %v; want the new key primary beside the old one", mid)
	}
	// The server reads every contact meanwhile, half of them re-wrapped.
	for id, addr := range emails {
		var c contactJSON
		if st := p.do("GET", "/api/v1/contacts/"+id, nil, &c); st != 200 || c.Email != addr {
			t.Fatalf("contact %s after the kill: %d", id, st)
		}
	}

	code, out, errOut := runCLI(t, "keys", "rotate", "--wrap", "--data", dir, "--batch", "5")
	p.stop()
	if code != 0 {
		t.Fatalf("the second run: exit %d\n%s", code, errOut)
	}
	var sum keys.WrapSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Added != mid.Primary || len(sum.Deleted) != 1 || sum.Deleted[0] != old || sum.Rewrapped == 0 || sum.Rewrapped >= 600 {
		t.Errorf("second run %+v; want key %d kept, %d deleted, part of the 600 keys re-wrapped (the rest were by the killed run)", sum, mid.Primary, old)
	}
	if after := wrapInfo(t, dir); len(after.Keys) != 1 || after.Primary != mid.Primary {
		t.Errorf("wrap keyset after: %v; want %d alone", after, mid.Primary)
	}
	checkAfterRotation(t, dir, p.token, emails, nil)
}

// TestRotateRootWhileServing renews the root key file in place with tillit keys rotate --root
// while a server takes writes, reads and lookups: none fails, the server goes on without a
// restart (it reads keysets.json again with the new key), a restart opens with the new key, a
// copy of keysets.json made before opens only with the retired key kept beside it, and the audit
// chain verifies. Then --root --to moves it to a new file elsewhere, and a server started with
// TILLIT_ROOT_KEY_FILE naming it reads every contact.
func TestRotateRootWhileServing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 100)
	backup, err := os.ReadFile(filepath.Join(dir, "keysets.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := startProgram(t, dir)
	load := startRotLoad(p, listEmails(t, p))
	reloads := strings.Count(p.stderr.String(), "keysets reloaded")
	code, out, stderr := runCLI(t, "keys", "rotate", "--root", "--data", dir)
	if code != 0 || !strings.Contains(out, `"root": "file"`) {
		t.Fatalf("keys rotate --root: exit %d, %s\n%s", code, out, stderr)
	}
	waitReload(t, p, reloads)
	emails, bad, calls := load.end()
	if len(bad) > 0 {
		t.Errorf("%d of %d calls during the root rotation failed, first: %q", len(bad), calls, bad)
	}
	if strings.Contains(p.stderr.String(), "could not be read") {
		t.Errorf("the server could not read keysets.json during the root rotation:\n%s", p.stderr.String())
	}
	p.stop()
	retired, _ := filepath.Glob(filepath.Join(dir, "root.key.retired-*"))
	if len(retired) != 1 {
		t.Fatalf("retired root keys %q; want one", retired)
	}
	copyAt := filepath.Join(t.TempDir(), "keysets.json")
	os.WriteFile(copyAt, backup, 0o600)
	for key, opens := range map[string]bool{filepath.Join(dir, "root.key"): false, retired[0]: true} {
		_, _, err := keys.Open(keys.Config{RootKeyFile: key, KeysetFile: copyAt})
		if (err == nil) != opens {
			t.Errorf("%s opens the copy of keysets.json made before: %v; want %v", filepath.Base(key), err == nil, opens)
		}
	}
	checkAfterRotation(t, dir, p.token, emails, nil)

	elsewhere := filepath.Join(t.TempDir(), "root.key")
	if code, _, stderr := runCLI(t, "keys", "rotate", "--root", "--to", elsewhere, "--data", dir); code != 0 {
		t.Fatalf("keys rotate --root --to: exit %d\n%s", code, stderr)
	}
	q := startProgramEnv(t, dir, map[string]string{"TILLIT_ROOT_KEY_FILE": elsewhere})
	q.token = p.token
	if got := listEmails(t, q); len(got) != len(emails) {
		t.Errorf("%d contacts with the moved root key; want %d", len(got), len(emails))
	}
}

// waitReload waits until the server has read keysets.json again since its log said so n times.
func waitReload(t *testing.T, p *program, n int) {
	t.Helper()
	for range 600 {
		time.Sleep(50 * time.Millisecond)
		if strings.Count(p.stderr.String(), "keysets reloaded") > n {
			return
		}
	}
	t.Fatalf("the server did not reload keysets.json:\n%s", p.stderr.String())
}

// TestRotateUsage: a rotation names one kind of key, and its flags fit it (exit 2).
func TestRotateUsage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	importPeople(t, dir, 1)
	for _, args := range [][]string{
		{"keys"},
		{"keys", "rotate", "--data", dir},
		{"keys", "rotate", "--wrap", "--root", "--data", dir},
		{"keys", "rotate", "--wrap", "--to", "x", "--data", dir},
		{"keys", "rotate", "--wrap", "--batch", "0", "--data", dir},
		{"keys", "rotate", "--wrap", "extra", "--data", dir},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 {
			t.Errorf("tillit %s: exit %d; want 2\n%s", strings.Join(args, " "), code, stderr)
		}
	}
	var errb strings.Builder
	code := cli.Main(context.Background(), cli.Env{Args: []string{"keys", "rotate", "--root", "--data", dir}, Stdout: io.Discard, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "TILLIT_ROOT_KEY" {
				return "pkcs11:token=t;object=root?module-path=/none.so&pin-source=file:/none"
			}
			return ""
		}})
	if code != 2 || !strings.Contains(errb.String(), "--to") {
		t.Errorf("--root of a key in a token without --to: exit %d, %s; want 2 asking for --to", code, errb.String())
	}
	if code, _, stderr := runCLI(t, "keys", "rotate", "--bidx", "--to", "x", "--data", dir); code != 2 {
		t.Errorf("--bidx --to: exit %d, %s; want 2", code, stderr)
	}
	if code, _, stderr := runCLI(t, "keys", "rotate", "--wrap", "--data", filepath.Join(dir, "none")); code != 1 || !strings.Contains(stderr, "keysets.json") {
		t.Errorf("--wrap on a directory without keys: exit %d, %s; want 1 naming keysets.json", code, stderr)
	}
}

// TestRotateWrapOnTwoNodes (PostgreSQL): two servers on one store, each with its own copy of
// keysets.json. tillit keys rotate --wrap on the first node adds the key and then waits, naming
// the second node, without making the key primary while the second cannot open what it makes;
// each time keysets.json is copied to the second node (as the README tells operators), the
// second reloads it and the rotation takes its next step. Both nodes serve throughout, and at
// the end both hold the new key alone.
func TestRotateWrapOnTwoNodes(t *testing.T) {
	_, dbURL := pgtest.FreshSchema(t, "tr_")
	env := map[string]string{"TILLIT_DATABASE_URL": dbURL}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startProgramEnv(t, dirA, env)
	for i := range 50 {
		if st := a.do("POST", "/api/v1/contacts", map[string]any{"email": fmt.Sprintf("two-%d@example.net", i)}, nil); st != 201 {
			t.Fatalf("create: %d", st)
		}
	}
	copyKeys := func() {
		for _, f := range []string{"root.key", "keysets.json"} {
			b, err := os.ReadFile(filepath.Join(dirA, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dirB, f+".tmp"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dirB, f+".tmp"), filepath.Join(dirB, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyKeys()
	b := startProgramEnv(t, dirB, env)
	b.token = a.token
	old := wrapInfo(t, dirA).Primary

	stderr := &syncBuffer{}
	var stdout strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(context.Background(), cli.Env{Args: []string{"keys", "rotate", "--wrap", "--data", dirA, "--database-url", dbURL},
			Stdout: &stdout, Stderr: stderr, Getenv: func(string) string { return "" }})
	}()
	waitFor := func(what string) {
		t.Helper()
		for range 400 {
			if strings.Contains(stderr.String(), what) {
				return
			}
			select {
			case code := <-done:
				t.Fatalf("keys rotate ended (exit %d) before saying %q:\n%s", code, what, stderr.String())
			case <-time.After(25 * time.Millisecond):
			}
		}
		t.Fatalf("keys rotate did not say %q:\n%s", what, stderr.String())
	}
	waitFor("waiting for 1 serving process")
	if w := wrapInfo(t, dirA); len(w.Keys) != 2 || w.Primary != old {
		t.Fatalf("wrap keyset while the second node lacks the new key: %v; want it added, not primary", w)
	}
	for i := 0; ; i++ {
		// The operator's copy to the second node, each time the rotation waits for it.
		copyKeys()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("keys rotate: exit %d\n%s", code, stderr.String())
			}
		case <-time.After(100 * time.Millisecond):
			if i < 600 {
				continue
			}
			t.Fatalf("keys rotate did not end:\n%s", stderr.String())
		}
		break
	}
	var sum keys.WrapSummary
	if err := json.Unmarshal([]byte(stdout.String()), &sum); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dirA, dirB} {
		if w := wrapInfo(t, d); len(w.Keys) != 1 || w.Primary != sum.Added || sum.Added == old {
			t.Errorf("wrap keyset of %s after: %v; want the new key %d alone", d, w, sum.Added)
		}
	}
	// Both nodes read every contact, and one written on the second after the rotation reads on
	// the first after a restart (no key cached).
	if st := b.do("POST", "/api/v1/contacts", map[string]any{"email": "after@example.net"}, nil); st != 201 {
		t.Fatalf("create on the second node after: %d", st)
	}
	emails := listEmails(t, b)
	a.stop()
	b.stop()
	checkAfterRotation(t, dirA, a.token, emails, env)
}
