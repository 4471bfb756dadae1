// Package apptest builds a whole Tillit (app.New) on a temporary SQLite store for tests, so that
// a test wires nothing by hand: every service is the one tillit serve runs, hooks included.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
	_ "github.com/tillit/tillit/internal/store/sqlite" // the backend tests run on
)

// BaseURL is the public URL of an App built by New, unless an option changes it.
const BaseURL = "https://tillit.example"

// MailFrom is the sender of an App built by New, unless an option changes it.
const MailFrom = "privacy@tillit.example"

// New returns an App on a fresh data directory under t.TempDir(): a new root key and keysets,
// an empty store, settings from config.Default with BaseURL and MailFrom, mail written as .eml
// files under app.MailDir, logs discarded, the system clock. Each option then edits the
// app.Config before app.New: set Now for a test clock, Settings for other settings, Transport
// for another mail transport, Settings.DataDir to open an existing data directory again (made
// by an earlier New; its keys are kept). The App is closed by t.Cleanup. New fails the test on
// any error.
func New(t testing.TB, options ...func(*app.Config)) *app.App {
	t.Helper()
	a, err := open(t.TempDir(), options...)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// open builds the App for New in dir unless an option names another data directory.
func open(dir string, options ...func(*app.Config)) (*app.App, error) {
	s := config.Default()
	s.DataDir, s.BaseURL, s.MailFrom = dir, BaseURL, MailFrom
	if err := s.Finish(); err != nil {
		return nil, err
	}
	cfg := app.Config{Settings: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range options {
		o(&cfg)
	}
	if cfg.Settings.RootKeyFile == filepath.Join(dir, "root.key") && cfg.Settings.DataDir != dir {
		cfg.Settings.RootKeyFile = filepath.Join(cfg.Settings.DataDir, "root.key")
	}
	if cfg.Transport == nil {
		cfg.Transport = app.Files(cfg.Settings)
	}
	s = cfg.Settings
	kr, _, err := keys.Open(keys.Config{RootKeyFile: s.RootKeyFile, KeysetFile: app.KeysetFile(s.DataDir), Create: true})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: s.DataDir, AnchorMAC: kr.AnchorMAC})
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
