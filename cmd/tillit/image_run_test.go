package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// container is a running tillit container: its name, the API's address on the published port
// and what it logged up to its "listening" line.
type container struct {
	e    engine
	name string
	base string // http://127.0.0.1:PORT
	log  string
}

// startContainer runs image detached with volume on /data and the mount keys (HOST:/keys[:ro]),
// the API port published on a free loopback port, and returns once the server logged that it
// listens and answered GET /healthz with 200 as uid 65532. The container is removed when the
// test ends; its log is shown when the test failed.
func startContainer(t *testing.T, e engine, image, volume, keys string) *container {
	t.Helper()
	c := runDetached(t, e, "-p", "127.0.0.1::8080", "-v", volume+":/data", "-v", keys, image)
	c.log = c.waitListening(t)
	c.base = "http://" + firstLine(e.run(t, "port", c.name, "8080/tcp"))
	var health struct{ Status string }
	if st := apiCall(t, c.base, "", "GET", "/healthz", "", &health); st != http.StatusOK || health.Status != "ok" {
		t.Fatalf("GET /healthz on %s: %d %+v; want 200 ok", c.base, st, health)
	}
	if uid := processUID(t, e, c.name); uid != fmt.Sprint(imageUID) {
		t.Errorf("tillit runs as uid %s in the container; want %d", uid, imageUID)
	}
	return c
}

// runDetached runs a container detached (engine run -d) with args and returns it; it is removed
// when the test ends, and its log is shown when the test failed.
func runDetached(t *testing.T, e engine, args ...string) *container {
	t.Helper()
	c := &container{e: e, name: "tillit-test-" + randomHex(t)}
	e.run(t, append([]string{"run", "-d", "--name", c.name}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := e.try(context.Background(), "logs", c.name)
			t.Logf("%s logs %s:\n%s", e.name, c.name, out)
		}
		e.try(context.Background(), "rm", "-f", "-v", c.name)
	})
	return c
}

// waitListening follows the container's log until tillit listens (follow) and returns the log
// so far; it fails the test when the log ends first (the container stopped).
func (c *container) waitListening(t *testing.T) string {
	t.Helper()
	log, listening := c.follow(t)
	if !listening {
		t.Fatalf("the container's log ended before tillit listened:\n%s", log)
	}
	return log
}

// follow follows the container's log (stdout and stderr) until tillit logs "listening" or the
// log ends (the container stopped), and returns the log so far and which of the two it was.
// tillit must listen on every address, port 8080 (logged as [::]:8080, Go's name for the
// wildcard).
func (c *container) follow(t *testing.T) (log string, listening bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a hung engine, not a speed limit
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, c.e.name, "logs", "--follow", c.name)
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel() // ends the follow before the Wait above
	var b strings.Builder
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "msg=listening") {
			if !strings.Contains(sc.Text(), "addr=[::]:8080") && !strings.Contains(sc.Text(), "addr=0.0.0.0:8080") {
				t.Errorf("tillit listens on %q; want every address, port 8080", sc.Text())
			}
			return b.String(), true
		}
	}
	return b.String(), false
}

// stop stops the container (SIGTERM) and checks that tillit exited 0: it shut down cleanly.
func (c *container) stop(t *testing.T) {
	t.Helper()
	c.e.run(t, "stop", "--time", "30", c.name)
	if code := c.e.run(t, "inspect", "--format", "{{.State.ExitCode}}", c.name); code != "0" {
		t.Errorf("tillit exited %s on SIGTERM; want 0", code)
	}
}

// processUID returns the uid the container's process runs as, from the engine's top.
func processUID(t *testing.T, e engine, name string) string {
	lines := strings.Split(e.run(t, "top", name), "\n")
	if len(lines) < 2 {
		t.Fatalf("%s top %s: %q", e.name, name, lines)
	}
	head, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	for i, col := range head {
		if (col == "UID" || col == "USER") && i < len(row) {
			return row[i]
		}
	}
	t.Fatalf("%s top %s: no UID column in %q", e.name, name, lines[0])
	return ""
}

var tokenRe = regexp.MustCompile(`One-time admin token[^\n]*\n\s*(tlt_[A-Za-z0-9_-]+)`)

// adminToken returns the first start's admin token from its log.
func adminToken(t *testing.T, log string) string {
	m := tokenRe.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("the first start printed no admin token:\n%s", log)
	}
	return m[1]
}

// createContact creates a contact through the API and returns its id.
func createContact(t *testing.T, base, token string) string {
	var c struct{ ID string }
	if st := apiCall(t, base, token, "POST", "/api/v1/contacts", `{"email":"cora.container@example.org","first_name":"Cora"}`, &c); st != http.StatusCreated || c.ID == "" {
		t.Fatalf("POST /api/v1/contacts: %d %+v; want 201 with an id", st, c)
	}
	return c.ID
}

// apiCall sends a request (body: JSON, or "" for none) with the bearer token (or none) and
// decodes the answer into out; it returns the status.
func apiCall(t *testing.T, base, token, method, path, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil && resp.StatusCode < 300 {
		t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode
}

// checkVolume reads /data of the stopped container name and checks that the store and its
// keysets are there, 65532's, the data file encrypted (no SQLite header), and the root key not.
func checkVolume(t *testing.T, e engine, name string) {
	files := readTar(t, e, "cp", name+":/data", "-")
	for _, f := range []string{"data/keysets.json", "data/tillit.db", "data/keys.db"} {
		h, ok := files[f]
		switch {
		case !ok:
			t.Errorf("the volume has no %s (it has %v)", f, keysOf(files))
		case h.Uid != imageUID || h.Size == 0:
			t.Errorf("%s in the volume: uid %d, %d bytes; want uid %d and content", f, h.Uid, h.Size, imageUID)
		case strings.HasSuffix(f, ".db") && strings.HasPrefix(string(h.head), "SQLite format 3"):
			t.Errorf("%s in the volume starts with SQLite's header: it is not encrypted", f)
		}
	}
	if _, ok := files["data/root.key"]; ok {
		t.Error("the root key is in the data volume")
	}
}

// checkRootKey checks that the first start made the root key in the /keys directory: 32 bytes,
// 0600, uid 65532.
func checkRootKey(t *testing.T, dir string) {
	fi, err := os.Stat(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatalf("the first start made no root key on /keys: %v", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if fi.Size() != 32 || fi.Mode().Perm() != 0o600 || st == nil || st.Uid != imageUID {
		t.Errorf("root.key on /keys: %d bytes, mode %v, stat %+v; want 32 bytes, 0600, uid %d", fi.Size(), fi.Mode(), st, imageUID)
	}
}

func keysOf(m map[string]tarEntry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func firstLine(s string) string { line, _, _ := strings.Cut(s, "\n"); return strings.TrimSpace(line) }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
