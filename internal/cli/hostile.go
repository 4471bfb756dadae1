package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HostileResult is what tillit bench hostile prints with --json: one case per hostile load,
// each against a freshly started child `tillit serve` in its own throw-away data directory.
type HostileResult struct {
	Scenario  string        `json:"scenario"` // "hostile"
	GoVersion string        `json:"go_version"`
	CPUs      int           `json:"cpus"`
	Cases     []HostileCase `json:"cases"`
}

// HostileCase is one hostile load and how the server came out of it.
type HostileCase struct {
	Name     string `json:"name"`
	Requests int    `json:"requests"` // requests or connections sent
	// Statuses counts the answers by HTTP status ("413"), plus "closed" (the server closed the
	// connection without an answer) and "error" (the client failed otherwise).
	Statuses map[string]int `json:"statuses"`
	Seconds  float64        `json:"seconds"` // wall time of the load
	// StartRSSMiB is the child's VmHWM just after it started; PeakRSSMiB its VmHWM after the
	// load; RSSMiB its VmRSS then. All from /proc/PID/status.
	StartRSSMiB float64 `json:"start_rss_mib"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	RSSMiB      float64 `json:"rss_mib"`
	// HealthzAfter is the status of GET /healthz after the load (0: no answer within 10 s).
	HealthzAfter  int   `json:"healthz_after"`
	ResponseBytes int64 `json:"response_bytes,omitempty"` // the largest answer body
	// Slow connections: seconds from the start of the load until the server had closed half
	// of them, and all of them; -1 when some were still open at the end of the load.
	ClosedP50Seconds float64 `json:"closed_p50_s,omitempty"`
	ClosedMaxSeconds float64 `json:"closed_max_s,omitempty"`
	Note             string  `json:"note,omitempty"`
}

// hostileCases are the loads of tillit bench hostile, in order.
var hostileCases = []string{"deep-json", "refused-rows", "slow-bodies", "one-client-signups"}

// benchHostile runs each hostile load against a fresh child `tillit serve` (this executable)
// and reports the child's memory and answers. It never touches a real data directory.
func benchHostile(ctx context.Context, env Env, asJSON bool) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	res := HostileResult{Scenario: "hostile", GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	for _, name := range hostileCases {
		fmt.Fprintf(env.Stderr, "hostile: %s …\n", name)
		c, err := runHostileCase(ctx, exe, name)
		if err != nil {
			return fmt.Errorf("hostile %s: %w", name, err)
		}
		res.Cases = append(res.Cases, c)
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	for _, c := range res.Cases {
		fmt.Fprintf(env.Stdout, "%-20s %5d requests %6.1fs statuses %v peak RSS %.0f MiB (start %.0f) healthz %d %s\n",
			c.Name, c.Requests, c.Seconds, c.Statuses, c.PeakRSSMiB, c.StartRSSMiB, c.HealthzAfter, c.Note)
	}
	return nil
}

// child is one running `tillit serve` started by benchHostile.
type child struct {
	cmd   *exec.Cmd
	dir   string
	base  string // http://127.0.0.1:PORT
	token string // the first-start admin token
	done  chan struct{}
}

var (
	listeningRE  = regexp.MustCompile(`msg=listening addr=(\S+)`)
	childTokenRE = regexp.MustCompile(`tlt_[A-Za-z0-9_-]+`)
)

// startChild starts `exe serve` on 127.0.0.1:0 in a new temporary data directory and waits
// until it listens (its address and the one-time admin token are read from its stderr).
func startChild(ctx context.Context, exe string) (*child, error) {
	dir, err := os.MkdirTemp("", "tillit-hostile-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TILLIT_ROOT_KEY_FILE=", "TILLIT_ROOT_KEY=", "TILLIT_DATA=", "TILLIT_SMTP_URL=")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &child{cmd: cmd, dir: dir, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() { // owned by the child: ends when its stderr closes, at exit; waited for in stop
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if c.token == "" && ready != nil {
				c.token = childTokenRE.FindString(line)
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil && ready != nil {
				c.base = "http://" + m[1]
				close(ready)
				ready = nil
			}
		}
		if ready != nil {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
	}
	if c.base == "" {
		c.stop()
		return nil, errors.New("the child server did not start listening")
	}
	return c, nil
}

// stop ends the child with SIGTERM, waits for it and removes its data directory.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()
	<-c.done
	os.RemoveAll(c.dir)
}

// procMiB reads a "kB" field (VmHWM, VmRSS) of /proc/PID/status in MiB (0 where /proc is absent).
func procMiB(pid int, field string) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// healthz returns the status of GET /healthz, or 0 without an answer within 10 s.
func healthz(base string) int {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func runHostileCase(ctx context.Context, exe, name string) (HostileCase, error) {
	c, err := startChild(ctx, exe)
	if err != nil {
		return HostileCase{}, err
	}
	defer c.stop()
	pid := c.cmd.Process.Pid
	hc := HostileCase{Name: name, Statuses: map[string]int{}, StartRSSMiB: procMiB(pid, "VmHWM")}
	start := time.Now()
	switch name {
	case "deep-json":
		err = hostileDeepJSON(ctx, exe, c, &hc)
	case "refused-rows":
		err = hostileRefusedRows(ctx, exe, c, &hc)
	case "slow-bodies":
		err = hostileSlowBodies(ctx, c, &hc)
	case "one-client-signups":
		err = hostileSignups(c, &hc)
	}
	hc.Seconds = time.Since(start).Seconds()
	if err != nil {
		return hc, err
	}
	hc.HealthzAfter = healthz(c.base)
	hc.PeakRSSMiB, hc.RSSMiB = procMiB(pid, "VmHWM"), procMiB(pid, "VmRSS")
	return hc, nil
}

// post sends one request and counts its answer in hc.
func (hc *HostileCase) post(client *http.Client, req *http.Request) {
	hc.Requests++
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF") {
			hc.Statuses["closed"]++
		} else {
			hc.Statuses["error"]++
		}
		return
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	hc.ResponseBytes = max(hc.ResponseBytes, n)
	hc.Statuses[strconv.Itoa(resp.StatusCode)]++
}

// hostileDeepJSON posts nested "[": 60,000 bytes to /p/subscribe without a token (under its
// 64 KiB limit: before the depth cap this one request ran the server out of memory) and 1 MiB
// to POST /api/v1/contacts with an agent token made by `tillit token create`.
func hostileDeepJSON(ctx context.Context, exe string, c *child, hc *HostileCase) error {
	out, err := exec.CommandContext(ctx, exe, "token", "create", "--role", "agent", "--name", "hostile-bench", "--data", c.dir).Output()
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	token := strings.TrimSpace(string(out))
	client := &http.Client{Timeout: 10 * time.Minute}
	for _, b := range []struct {
		path  string
		size  int
		token string
	}{{"/p/subscribe", 60_000, ""}, {"/api/v1/contacts", 1 << 20, token}} {
		req, err := http.NewRequest("POST", c.base+b.path, bytes.NewReader(bytes.Repeat([]byte("["), b.size)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if b.token != "" {
			req.Header.Set("Authorization", "Bearer "+b.token)
		}
		hc.post(client, req)
	}
	hc.Note = "60,000 bytes of [ to /p/subscribe (no token) and 1 MiB of [ to /api/v1/contacts (agent token)"
	return nil
}

// hostileRefusedRows imports a CSV of 400,000 rows that are all refused (no e-mail address),
// with an agent token made by `tillit token create`.
func hostileRefusedRows(ctx context.Context, exe string, c *child, hc *HostileCase) error {
	out, err := exec.CommandContext(ctx, exe, "token", "create", "--role", "agent", "--name", "hostile-bench", "--data", c.dir).Output()
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	token := strings.TrimSpace(string(out))
	const rows = 400_000
	var csv bytes.Buffer
	csv.WriteString("email\n")
	for range rows {
		csv.WriteString("x\n")
	}
	req, err := http.NewRequest("POST", c.base+"/api/v1/imports?format=generic", &csv)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	hc.post(&http.Client{Timeout: 30 * time.Minute}, req)
	hc.Note = fmt.Sprintf("CSV of %d rows without an address (%d bytes), agent token", rows, 6+2*rows)
	return nil
}

// hostileSlowBodies opens 3,000 connections that each send the headers of a request form
// (POST /p/requests, read before its per-client limit) announcing a 16 KiB body, then one
// body byte every 2 s, and waits (at most 90 s) until the server has
// closed them all; /healthz is asked while they hang.
func hostileSlowBodies(ctx context.Context, c *child, hc *HostileCase) error {
	const conns, limit = 3000, 90 * time.Second
	addr := strings.TrimPrefix(c.base, "http://")
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	closedAt := make([]time.Duration, 0, conns)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range conns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			mu.Lock()
			hc.Statuses["error"]++
			mu.Unlock()
			continue
		}
		hc.Requests++
		wg.Add(1)
		go func() { // owned by hostileSlowBodies: ends at the server's close or the limit; waited for below
			defer wg.Done()
			defer conn.Close()
			fmt.Fprintf(conn, "POST /p/requests HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16384\r\n\r\nt", addr)
			answer := make(chan string, 1)
			go func() { // owned by the connection's goroutine: ends when the connection closes
				b, _ := io.ReadAll(conn)
				answer <- string(b)
			}()
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			for {
				select {
				case got := <-answer:
					status := "closed"
					if f := strings.Fields(got); len(f) > 1 && strings.HasPrefix(f[0], "HTTP/") {
						status = f[1]
					}
					mu.Lock()
					hc.Statuses[status]++
					closedAt = append(closedAt, time.Since(start))
					mu.Unlock()
					return
				case <-ctx.Done():
					conn.Close()
					<-answer
					mu.Lock()
					hc.Statuses["still_open"]++
					mu.Unlock()
					return
				case <-t.C:
					conn.Write([]byte(" "))
				}
			}
		}()
		if i == conns/2 {
			if st := healthz(c.base); st != 200 {
				hc.Note = fmt.Sprintf("healthz during the load: %d; ", st)
			}
		}
	}
	if st := healthz(c.base); st != 200 {
		hc.Note += fmt.Sprintf("healthz with all connections open: %d; ", st)
	} else {
		hc.Note += "healthz answered 200 while the connections hung; "
	}
	wg.Wait()
	slices.Sort(closedAt)
	hc.ClosedP50Seconds, hc.ClosedMaxSeconds = -1, -1
	if len(closedAt) > 0 && len(closedAt) >= hc.Requests/2 {
		hc.ClosedP50Seconds = closedAt[hc.Requests/2-1].Seconds()
	}
	if len(closedAt) == hc.Requests && len(closedAt) > 0 {
		hc.ClosedMaxSeconds = closedAt[len(closedAt)-1].Seconds()
	}
	hc.Note += "3,000 connections to /p/requests, headers then one body byte every 2 s of an announced 16 KiB"
	return nil
}

// hostileSignups posts 300 sign-ups of distinct addresses from one client, 10 at a time.
func hostileSignups(c *child, hc *HostileCase) error {
	const n, workers = 300, 10
	client := &http.Client{Timeout: time.Minute}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() { // owned by hostileSignups: ends when next closes; waited for below
			defer wg.Done()
			for i := range next {
				body := `{"email":"signup` + strconv.Itoa(i) + `@hostile.example"}`
				req, _ := http.NewRequest("POST", c.base+"/p/subscribe", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				var one HostileCase
				one.Statuses = map[string]int{}
				one.post(client, req)
				mu.Lock()
				hc.Requests++
				for k, v := range one.Statuses {
					hc.Statuses[k] += v
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	hc.Note = "300 distinct addresses from 127.0.0.1, 10 at a time"
	return nil
}
