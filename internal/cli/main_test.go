package cli_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/cli"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// program is one running tillit serve on 127.0.0.1:0 with its own data directory.
type program struct {
	t      *testing.T
	dir    string
	base   string
	token  string
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

var tokenRE = regexp.MustCompile(`tlt_[A-Za-z0-9_-]+`)

func getenv(string) string { return "" }

// startProgram runs tillit serve in this process, like a user would run the binary.
func startProgram(t *testing.T, dir string) *program {
	t.Helper()
	return startProgramEnv(t, dir, nil)
}

// startProgramEnv is startProgram with TILLIT_* settings in env.
func startProgramEnv(t *testing.T, dir string, env map[string]string) *program {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &program{t: t, dir: dir, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan string, 1)
	go func() {
		p.done <- cli.Main(ctx, cli.Env{
			Args:   withStore(t, []string{"serve", "--data", dir, "--listen", "127.0.0.1:0"}, env),
			Stdout: io.Discard, Stderr: p.stderr, Getenv: func(k string) string { return env[k] },
			Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		p.base = "http://" + addr
	case code := <-p.done:
		t.Fatalf("tillit serve exited with %d before listening:\n%s", code, p.stderr.String())
	}
	p.token = tokenRE.FindString(p.stderr.String())
	t.Cleanup(p.stop)
	return p
}

// stop shuts the server down (which checkpoints the database) and waits for it.
func (p *program) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	if code := <-p.done; code != 0 {
		p.t.Errorf("tillit serve exited with %d:\n%s", code, p.stderr.String())
	}
}

// client calls the server with the admin token (apptest.Client).
func (p *program) client() *apptest.Client { return apptest.NewClient(p.t, p.base, p.token) }

// do sends a request with the admin token and decodes a JSON answer into out (when non-nil).
func (p *program) do(method, path string, body any, out any) int {
	p.t.Helper()
	return p.client().Do(method, path, body, out)
}

func (p *program) doAs(token, method, path string, body any, out any) int {
	p.t.Helper()
	return p.client().DoAs(token, method, path, body, out)
}

// gate asks the consent gate about a contact id or an e-mail address (apptest.Client.Check).
func (p *program) gate(who map[string]string, purpose string) (allowed bool, reason string) {
	p.t.Helper()
	return p.client().Check(who, purpose)
}

// waitCampaign reads the campaign until done accepts it (apptest.Client.WaitCampaign).
func (p *program) waitCampaign(id string, done func(campaignJSON) bool) campaignJSON {
	p.t.Helper()
	return p.client().WaitCampaign(id, done)
}

// waitWalked waits for the campaign's audience walk to end (status sent).
func (p *program) waitWalked(id string) campaignJSON {
	p.t.Helper()
	return p.client().WaitWalked(id)
}

// runCLI runs one tillit command and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: withStore(t, args, nil), Stdout: &out, Stderr: &errb, Getenv: getenv})
	return code, out.String(), errb.String()
}

// withStore returns args with --database-url URL after --data DIR, URL being the test
// backend's store of DIR (testdb.DatabaseURL), so that every command of a test reaches the
// same store; args unchanged on SQLite, without --data, or with a database URL given already
// (as a flag or in env).
func withStore(t *testing.T, args []string, env map[string]string) []string {
	t.Helper()
	if env["TILLIT_DATABASE_URL"] != "" || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--database-url") }) {
		return args
	}
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			if u := testdb.DatabaseURL(t, args[i+1]); u != "" {
				return slices.Concat(args[:i+2], []string{"--database-url", u}, args[i+2:])
			}
			break
		}
	}
	return args
}

// externalDir returns ../shared/testdata/external/sub (apptest.ExternalDir: skipped when absent
// unless TILLIT_REQUIRE_EXTERNAL_TESTDATA=1).
func externalDir(t *testing.T, sub string) string {
	t.Helper()
	return apptest.ExternalDir(t, sub)
}

// assertNoPlaintext fails when any of the needles appears in any file under dir
// (apptest.AssertNoPlaintext).
func assertNoPlaintext(t *testing.T, dir string, needles []string) {
	t.Helper()
	apptest.AssertNoPlaintext(t, dir, needles)
}

// The API's answers as the tests decode them (apptest's).
type (
	contactJSON  = apptest.Contact
	listJSON     = apptest.List
	problemJSON  = apptest.Problem
	requestJSON  = apptest.Request
	reportJSON   = apptest.ImportReport
	campaignJSON = apptest.Campaign
)

// postForm posts a form to a public page and returns the status and the page.
func postForm(t *testing.T, base, path string, form url.Values) (int, string) {
	t.Helper()
	return apptest.PostForm(t, base, path, form)
}

// writeFile writes body to a file called name in a fresh directory and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	return apptest.WriteFile(t, name, body)
}

// verifyRE finds a request's verification link.
var verifyRE = apptest.VerifyLink

// hookReceiver is a processor's webhook endpoint on loopback (apptest.Hooks) that acknowledges
// every erasure.
type hookReceiver struct {
	*apptest.Hooks
	url, secret string
}

func startHookReceiver(t *testing.T, secret string) *hookReceiver {
	t.Helper()
	h := apptest.HookReceiver(t, secret, true)
	return &hookReceiver{Hooks: h, url: h.URL, secret: h.Secret}
}

// waitFor waits until an event of kind has arrived (apptest.Hooks.WaitFor).
func (h *hookReceiver) waitFor(t *testing.T, kind string) {
	t.Helper()
	h.WaitFor(t, kind)
}

func (h *hookReceiver) badSignatures() int { return h.BadSignatures() }
