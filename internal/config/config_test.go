package config_test

import (
	"flag"
	"strings"
	"testing"

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
		{"postgres not yet supported", func(c *config.Config) { c.DatabaseURL = "postgres://u:p@localhost/db" }},
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
