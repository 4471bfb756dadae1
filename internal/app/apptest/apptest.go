// Package apptest builds a whole Tillit (app.New) on a temporary store for tests (the data
// directory's SQLite, or with TILLIT_TEST_STORE=postgres a PostgreSQL schema of the directory's
// own: testdb.DatabaseURL), so that a test wires nothing by hand: every service is the one tillit serve runs, hooks included.
// New gives the App alone; Serve runs it as tillit serve does, over HTTP on 127.0.0.1, with its
// background jobs and the first admin token. The rest are the helpers the scenario tests beside
// the code share: a real SMTP server (SMTP), a processor's webhook endpoint (Hooks), the import
// as tillit import runs it (Import), the API's answers as a client decodes them (Contact, …),
// and checks on the data directory (AssertNoPlaintext).
package apptest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// BaseURL is the public URL of an App built by New, unless an option changes it.
const BaseURL = "https://tillit.example"

// MailFrom is the sender of an App built by New, unless an option changes it.
const MailFrom = "privacy@tillit.example"

// New returns an App on a fresh data directory under t.TempDir(): a new root key and keysets,
// an empty store, settings from config.Default with BaseURL and MailFrom, mail written as .eml
// files under app.MailDir, logs discarded, the system clock. Each option then edits the
// app.Config before app.New: set Now for a test clock, Settings for other settings (Env sets
// them as TILLIT_* variables would), Transport for another mail transport, Settings.DataDir
// (Dir) to open an existing data directory again (made by an earlier New; its keys are kept).
// The settings are finished (config.Config.Finish) after the options: a root key file left
// unset is the data directory's, and so is the store unless Settings.DatabaseURL is set
// (testdb.DatabaseURL: the directory's SQLite, or its schema on PostgreSQL). Without a Transport, the settings pick one (app.Transport:
// SMTP when Settings.SMTPURL is set). The App is closed by t.Cleanup. New fails the test on
// any error.
func New(t testing.TB, options ...func(*app.Config)) *app.App {
	t.Helper()
	s := config.Default()
	s.DataDir, s.BaseURL, s.MailFrom = t.TempDir(), BaseURL, MailFrom
	cfg := app.Config{Settings: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a, err := open(t, cfg, options...)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// Dir is an option of New and Serve: the App opens the data directory dir (created if need
// be), as a restart, a restore or another process would.
func Dir(dir string) func(*app.Config) {
	return func(c *app.Config) { c.Settings.DataDir = dir }
}

// Env is an option of New and Serve: the settings the TILLIT_* variables in env give, applied
// as tillit applies its environment (config.Config.FromEnv) over what is set so far. A value
// FromEnv refuses panics: it is a mistake in the test.
func Env(env map[string]string) func(*app.Config) {
	return func(c *app.Config) {
		if err := c.Settings.FromEnv(func(k string) string { return env[k] }); err != nil {
			panic(fmt.Sprintf("apptest.Env: %v", err))
		}
	}
}

// open applies the options to cfg, finishes the settings and builds the App on them, on the
// test backend's store of the data directory (testdb) unless an option set a database URL.
func open(t testing.TB, cfg app.Config, options ...func(*app.Config)) (*app.App, error) {
	t.Helper()
	for _, o := range options {
		o(&cfg)
	}
	if cfg.Settings.DatabaseURL == "" {
		cfg.Settings.DatabaseURL = testdb.DatabaseURL(t, cfg.Settings.DataDir)
	}
	if err := cfg.Settings.Finish(); err != nil {
		return nil, err
	}
	s := cfg.Settings
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, err
	}
	if cfg.Transport == nil {
		t, err := app.Transport(s)
		if err != nil {
			return nil, err
		}
		cfg.Transport = t
	}
	kr, _, err := keys.Open(keys.Config{RootKeyFile: s.RootKeyFile, KeysetFile: app.KeysetFile(s.DataDir), Create: true})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	var disk [][]byte // the SQLite files encrypted under the disk key, as tillit serve makes them
	for _, k := range kr.DiskKeys() {
		disk = append(disk, k.Key)
	}
	db, err := store.Open(ctx, store.Config{URL: s.StoreURL(), DiskKeys: disk, AnchorMAC: kr.AnchorMAC, AnchorMACs: kr.AnchorMACs, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, cfg, db, kr)
	if err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}
