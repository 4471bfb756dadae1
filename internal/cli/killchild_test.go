package cli_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// killChildAt runs tillit with args in a child process (this test binary, TILLIT_CHILD_ARGS) and
// kills it (SIGKILL) at the first line of its stderr that contains at; the test fails, naming
// what, unless the child died of that kill. It returns the stderr lines read.
func killChildAt(t *testing.T, args []string, at, what string) []string {
	t.Helper()
	enc, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TILLIT_CHILD_ARGS="+string(enc))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), at) {
			cmd.Process.Kill()
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s was not killed: %v\n%s", what, cmd.ProcessState, strings.Join(seen, "\n"))
	}
	return seen
}
