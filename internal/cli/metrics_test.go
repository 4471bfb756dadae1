package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/cli"
)

// TestServeJSONLogsAndMetricsListener starts tillit serve with TILLIT_LOG_FORMAT=json and
// TILLIT_METRICS_LISTEN=127.0.0.1:0: every log line is one JSON object with time, level and
// msg; the metrics listener's address is logged before the API answers; GET /metrics there
// answers without a token and counts the API's requests by route pattern; the API itself does
// not serve /metrics; and neither the logs nor the exposition hold the address the requests
// carried.
func TestServeJSONLogsAndMetricsListener(t *testing.T) {
	const addr = "json.logs@example.org"
	p := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_LOG_FORMAT": "json", "TILLIT_METRICS_LISTEN": "127.0.0.1:0"})
	var metricsAddr string
	for _, rec := range jsonLines(t, p.stderr.String()) {
		if rec["msg"] == "metrics listening" {
			metricsAddr, _ = rec["addr"].(string)
		}
	}
	if !strings.HasPrefix(metricsAddr, "127.0.0.1:") {
		t.Fatalf("no metrics listening line with a loopback address in the log:\n%s", p.stderr.String())
	}
	var c apptest.Contact
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": addr, "first_name": "Jasmin"}, &c); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if allowed, reason := p.gate(map[string]string{"email": addr}, "newsletter"); allowed || reason != "no_consent" {
		t.Fatalf("gate: %v %s; want refused, no_consent", allowed, reason)
	}
	if st := p.do("GET", "/metrics", nil, nil); st != 404 {
		t.Errorf("GET /metrics on the API listener: %d; want 404 (metrics are served on TILLIT_METRICS_LISTEN only)", st)
	}
	m := apptest.Scrape(t, "http://"+metricsAddr+"/metrics")
	for _, w := range []struct {
		name   string
		labels []string
	}{
		{"tillit_http_requests_total", []string{"route", "POST /api/v1/contacts", "code", "201"}},
		{"tillit_http_requests_total", []string{"route", "POST /api/v1/consent-checks", "code", "200"}},
		{"tillit_http_requests_total", []string{"route", "unmatched", "code", "404"}},
		{"tillit_consent_gate_decisions_total", []string{"reason", "no_consent"}},
	} {
		if v, ok := m.Value(w.name, w.labels...); v != 1 {
			t.Errorf("%s%v = %g (present %v); want 1", w.name, w.labels, v, ok)
		}
	}
	p.stop()

	logs := p.stderr.String()
	for _, leak := range []string{addr, "Jasmin", c.ID} {
		if strings.Contains(logs, leak) {
			t.Errorf("the log holds %q:\n%s", leak, logs)
		}
		if strings.Contains(m.Text, leak) {
			t.Errorf("the exposition holds %q", leak)
		}
	}
	routes := map[string]bool{}
	for _, rec := range jsonLines(t, logs) {
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k].(string); !ok {
				t.Errorf("log line %v: no %s", rec, k)
			}
		}
		if rec["msg"] == "request" {
			routes[rec["route"].(string)] = true
		}
	}
	if !routes["POST /api/v1/contacts"] || !routes["POST /api/v1/consent-checks"] {
		t.Errorf("request log lines name the routes %v; want the two API routes by pattern", routes)
	}
}

// jsonLines returns the log's lines that are JSON objects (the others are what serve prints
// for people: the one-time admin token, the new keys), failing t for one that starts as an
// object and does not parse; it fails t when there is none.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		t.Fatalf("no JSON log line in:\n%s", log)
	}
	return out
}

// TestServeRefusesBadLogFormatAndMetricsListen: an unknown TILLIT_LOG_FORMAT and a metrics
// address without a port are usage errors (exit 2) that name the setting, before anything is
// created in the data directory.
func TestServeRefusesBadLogFormatAndMetricsListen(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TILLIT_LOG_FORMAT": "yaml"}, `TILLIT_LOG_FORMAT "yaml"`},
		{map[string]string{"TILLIT_METRICS_LISTEN": "localhost"}, `--metrics-listen "localhost"`},
	} {
		dir := t.TempDir()
		var stderr bytes.Buffer
		code := cli.Main(context.Background(), cli.Env{Args: []string{"serve", "--data", dir, "--listen", "127.0.0.1:0"},
			Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return tc.env[k] }})
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 naming %s", tc.env, code, stderr.String(), tc.want)
		}
		if files, err := os.ReadDir(dir); err != nil || len(files) != 0 {
			t.Errorf("%v: the data directory holds %v (%v); want nothing", tc.env, files, err)
		}
	}
}
