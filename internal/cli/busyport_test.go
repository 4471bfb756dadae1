package cli_test

import (
	"net"
	"strings"
	"testing"
)

// TestFirstStartOnATakenPortKeepsTheToken: found by a fresh-user trial. The first start printed
// the one-time admin token and then failed to bind, so the token of a server that never ran was
// spent (it is printed once). Now the port is taken first; the token comes with the start that
// serves.
func TestFirstStartOnATakenPortKeepsTheToken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "serve", "--data", dir, "--listen", busy.Addr().String())
	if code == 0 || strings.Contains(stderr, "tlt_") || !strings.Contains(stderr, "address already in use") {
		t.Fatalf("serve on a taken port: exit %d\n%s; want a failure without a token", code, stderr)
	}
	p := startProgram(t, dir)
	if p.token == "" {
		t.Fatalf("the first start that serves printed no admin token:\n%s", p.stderr.String())
	}
	if st := p.do("GET", "/api/v1/contacts", nil, nil); st != 200 {
		t.Errorf("the token: %d; want 200", st)
	}
}
