package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestSlowBodiesAreCutOff: found by a reliability trial (D7). The server set no read deadline
// for request bodies: 3,000 connections trickling a byte every 20 s were all open after 141 s.
// A body must now arrive within TILLIT_BODY_TIMEOUT plus a second per 32 KiB received; a client
// slower than that gets its connection closed before it has sent its body, while an import
// sent steadily over longer than that timeout still works.
func TestSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t, apptest.Env(map[string]string{"TILLIT_BODY_TIMEOUT": "1s"}))
	addr := strings.TrimPrefix(p.Base, "http://")

	// A sign-up trickled one byte every 100 ms: 200 bytes would take 20 s.
	const size = 200
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /p/subscribe HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, size)
	closed := make(chan string, 1)
	go func() { // owned by the test: ends when the server closes the connection
		b, _ := io.ReadAll(c)
		closed <- string(b)
	}()
	sent := 0
	var answer string
trickle:
	for ; sent < size; sent++ {
		select {
		case answer = <-closed:
			break trickle
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := c.Write([]byte{' '}); err != nil {
			answer = <-closed
			break
		}
	}
	if sent >= size {
		t.Fatalf("the server read a %d-byte body trickled over 20 s; want the connection closed after about 1 s", size)
	}
	t.Logf("closed after %d of %d bytes; answer %.60q", sent, size, answer)

	// An import of 1,000 contacts (2 MB) sent at most 200 kB every 100 ms: the upload lasts several
	// times the timeout.
	var csv strings.Builder
	csv.WriteString("email,notes\n")
	note := strings.Repeat("n", 2000)
	for i := range 1000 {
		csv.WriteString("steady" + strconv.Itoa(i) + "@example.org," + note + "\n")
	}
	req, err := http.NewRequest("POST", p.Base+"/api/v1/imports?format=generic", &throttled{r: strings.NewReader(csv.String()), perTick: 200_000, tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep apptest.ImportReport
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&rep); err != nil || resp.StatusCode != 200 || rep.Rows != 1000 || rep.Created != 1000 {
		t.Errorf("steady import: %d %+v %v; want 1,000 rows created", resp.StatusCode, rep, err)
	}
}

// throttled reads at most perTick bytes every tick.
type throttled struct {
	r       io.Reader
	perTick int
	tick    time.Duration
}

func (t *throttled) Read(p []byte) (int, error) {
	time.Sleep(t.tick)
	return t.r.Read(p[:min(len(p), t.perTick)])
}
