package postgres

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/store/storetest/pgtest"
)

// syncBuffer is a bytes.Buffer safe for the store's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWarningsGoToTheConfiguredLogger: the background work's warnings (here the listener's lost
// connection) go to Config.Logger, the application's, not to slog's default logger.
func TestWarningsGoToTheConfiguredLogger(t *testing.T) {
	admin := pgtest.Open(t)
	var out syncBuffer
	db, schema := openFresh(t, "tl_", Config{Logger: slog.New(slog.NewTextHandler(&out, nil))})
	for deadline := time.Now().Add(20 * time.Second); !db.listening.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not connect")
		}
	}
	var ended int
	if err := admin.QueryRow("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
		"LISTEN "+quoteIdent(channel(schema))).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("ending the listener's connection: %d ended, %v; want 1", ended, err)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "listener"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the listener's connection ended, the configured logger holds %q; want the listener's warning", out.String())
		}
	}
	if !strings.Contains(out.String(), "level=WARN") {
		t.Errorf("logged %q; want a warning", out.String())
	}
}
