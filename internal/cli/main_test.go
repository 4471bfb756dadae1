package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tillit/tillit/internal/cli"
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
			Args:   []string{"serve", "--data", dir, "--listen", "127.0.0.1:0"},
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

// do sends a request with the admin token and decodes a JSON answer into out (when non-nil).
func (p *program) do(method, path string, body any, out any) int {
	return p.doAs(p.token, method, path, body, out)
}

func (p *program) doAs(token, method, path string, body any, out any) int {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// runCLI runs one tillit command and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: args, Stdout: &out, Stderr: &errb, Getenv: getenv})
	return code, out.String(), errb.String()
}

// externalDir returns ../shared/testdata/external (relative to the repository root), skipping the
// test when it is absent unless TILLIT_REQUIRE_EXTERNAL_TESTDATA=1.
func externalDir(t *testing.T, sub string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "testdata", "external", sub))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("TILLIT_REQUIRE_EXTERNAL_TESTDATA") == "1" {
			t.Fatalf("external test data %s is required (TILLIT_REQUIRE_EXTERNAL_TESTDATA=1) but absent: %v", dir, err)
		}
		t.Skipf("external test data %s is absent; skipping (set TILLIT_REQUIRE_EXTERNAL_TESTDATA=1 to fail instead)", dir)
	}
	return dir
}

// assertNoPlaintext fails when any of the needles appears as bytes in any file under dir
// (ignoring case). A needle of hex digits with a letter among them is refused: the store keeps
// keyed hashes as hex text, so "Ebba" once matched one by chance.
func assertNoPlaintext(t *testing.T, dir string, needles []string) {
	t.Helper()
	for _, n := range needles {
		if strings.Trim(strings.ToLower(n), "0123456789abcdef") == "" && strings.ContainsAny(strings.ToLower(n), "abcdef") {
			t.Fatalf("needle %q is a hex word and can match a stored hash by chance; use a letter beyond f", n)
		}
	}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) || bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(n))) {
				t.Errorf("%s holds the plaintext %q", filepath.Base(path), n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("only %d files under %s; expected the database, key store and keys", files, dir)
	}
}
