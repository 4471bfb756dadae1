package config_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/config"
)

func TestPrecedenceDefaultsEnvFlags(t *testing.T) {
	env := map[string]string{"TILLIT_DATA": "/env/data", "TILLIT_LISTEN": "127.0.0.1:9000", "TILLIT_SMTP_URL": "smtp://mailer:s3cret@mail.example:587"}
	c := config.Default()
	if err := c.FromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.ServeFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:9100"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/env/data" || c.Listen != "127.0.0.1:9100" || c.RootKeyFile != "/env/data/root.key" || c.BaseURL != "http://127.0.0.1:9100" || c.LogLevel != "info" {
		t.Errorf("config = %+v; want data from env, listen from the flag, derived root key and base URL", c)
	}
	s := c.String()
	if strings.Contains(s, "s3cret") || !strings.Contains(s, "mailer") {
		t.Errorf("String() = %q; want the SMTP password redacted", s)
	}
}

func TestFinishRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*config.Config)
	}{
		{"empty data dir", func(c *config.Config) { c.DataDir = "" }},
		{"bad log level", func(c *config.Config) { c.LogLevel = "loud" }},
		{"unknown phone region", func(c *config.Config) { c.DefaultRegion = "XX" }},
	} {
		c := config.Default()
		tc.mod(&c)
		if err := c.Finish(); err == nil {
			t.Errorf("%s: Finish accepted %+v", tc.name, c)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: the error shows credentials: %v", tc.name, err)
		}
	}
}

// TestStringHidesDatabasePasswords: a PostgreSQL password, in the user part or as a parameter,
// never reaches the start-up log line.
func TestStringHidesDatabasePasswords(t *testing.T) {
	for _, u := range []string{"postgres://tillit:s3cret@db.example/tillit", "postgres://db.example/tillit?user=tillit&password=s3cret&sslmode=require", "postgres://%zz:s3cret@x"} {
		c := config.Default()
		c.DatabaseURL = u
		if s := c.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "database=") {
			t.Errorf("String() with database URL %q = %q; want the password hidden", u, s)
		}
	}
}

// TestStoreURL: the database URL wins; without one the embedded store lives in the data
// directory, whose name may hold a colon (found by the issue 12 trial: --data data:2026 was read
// as a "data" URL, and --database-url sqlite:DIR was accepted and then ignored).
func TestStoreURL(t *testing.T) {
	for _, tc := range []struct{ data, url, want string }{
		{"tillit-data", "", "sqlite:tillit-data"},
		{"data:2026", "", "sqlite:data:2026"},
		{"tillit-data", "sqlite:/srv/other", "sqlite:/srv/other"},
		{"tillit-data", "postgres://db.example/tillit?schema=crm", "postgres://db.example/tillit?schema=crm"},
	} {
		c := config.Config{DataDir: tc.data, DatabaseURL: tc.url}
		if got := c.StoreURL(); got != tc.want {
			t.Errorf("StoreURL(data %q, url %q) = %q; want %q", tc.data, tc.url, got, tc.want)
		}
	}
}

// TestJobLease: TILLIT_JOB_LEASE takes a duration of at least config.MinJobLease, naming the
// variable otherwise.
func TestJobLease(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "10s": 10 * time.Second, "5m": 5 * time.Minute} {
		c := config.Default()
		if err := c.FromEnv(func(k string) string { return map[string]string{"TILLIT_JOB_LEASE": v}[k] }); err != nil || c.JobLease != want {
			t.Errorf("TILLIT_JOB_LEASE=%q: %v, %v; want %v", v, c.JobLease, err, want)
		}
	}
	for _, v := range []string{"9s", "-1m", "soon", "0"} {
		c := config.Default()
		err := c.FromEnv(func(k string) string { return map[string]string{"TILLIT_JOB_LEASE": v}[k] })
		if err == nil || !strings.Contains(err.Error(), "TILLIT_JOB_LEASE") {
			t.Errorf("TILLIT_JOB_LEASE=%q: %v; want an error naming the variable", v, err)
		}
	}
}

// TestLogFormatAndMetricsListen: TILLIT_LOG_FORMAT is text (the default) or json, and any other
// value is refused with an error naming the variable; TILLIT_METRICS_LISTEN is empty (metrics
// not served) unless set, and --metrics-listen overrides it; both show in the start-up line.
func TestLogFormatAndMetricsListen(t *testing.T) {
	c := config.Default()
	if err := c.Finish(); err != nil || c.LogFormat != "text" || c.MetricsListen != "" {
		t.Fatalf("defaults: LogFormat %q, MetricsListen %q, %v; want text, none", c.LogFormat, c.MetricsListen, err)
	}
	env := map[string]string{"TILLIT_LOG_FORMAT": "json", "TILLIT_METRICS_LISTEN": "127.0.0.1:9090"}
	c = config.Default()
	if err := c.FromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil || c.LogFormat != "json" || c.MetricsListen != "127.0.0.1:9090" {
		t.Fatalf("from env: LogFormat %q, MetricsListen %q, %v; want json, 127.0.0.1:9090", c.LogFormat, c.MetricsListen, err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.ServeFlags(fs)
	if err := fs.Parse([]string{"--metrics-listen", "127.0.0.1:9191"}); err != nil || c.MetricsListen != "127.0.0.1:9191" {
		t.Fatalf("--metrics-listen: MetricsListen %q, %v; want the flag's", c.MetricsListen, err)
	}
	if s := c.String(); !strings.Contains(s, "log_format=json") || !strings.Contains(s, "metrics_listen=127.0.0.1:9191") {
		t.Errorf("String() = %q; want log_format and metrics_listen", s)
	}
	for _, bad := range []string{"JSON", "logfmt", "yaml"} {
		c := config.Default()
		if err := c.FromEnv(func(k string) string { return map[string]string{"TILLIT_LOG_FORMAT": bad}[k] }); err != nil {
			t.Fatal(err)
		}
		err := c.Finish()
		if err == nil || !strings.Contains(err.Error(), "TILLIT_LOG_FORMAT") || !strings.Contains(err.Error(), bad) {
			t.Errorf("TILLIT_LOG_FORMAT=%s: Finish = %v; want an error naming the variable and the value", bad, err)
		}
	}
}
