package token_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/token"
)

// clock is a test clock safe for the services' goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestConsoleSessionsLiveInTheStore: a console sign-in is kept in the store, so a second
// token.Service on the same store (another node of a cluster) knows it; signing out on one ends
// it on both; a revoked token and SessionAge end it; the store holds no secret.
func TestConsoleSessionsLiveInTheStore(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	a := apptest.New(t, func(c *app.Config) { c.Now = clk.now })
	ctx := context.Background()
	other := &token.Service{Store: store.Tokens(a.Store), Now: clk.now, NewID: func() string { return "x" }}
	start := func() (string, token.Token) {
		t.Helper()
		_, secret, err := a.Tokens.Create(ctx, token.RoleDPO, "dpo desk")
		if err != nil {
			t.Fatal(err)
		}
		id, tok, err := a.Tokens.SignIn(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		return id, tok
	}
	id, tok := start()
	if got, err := other.Session(ctx, id); err != nil || got.ID != tok.ID || got.Role != token.RoleDPO {
		t.Fatalf("the other node's Session = %+v, %v; want the signed-in token", got, err)
	}
	if err := other.SignOut(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Tokens.Session(ctx, id); !apperr.Is(err, apperr.Unauthenticated) {
		t.Errorf("Session after signing out on the other node: %v; want Unauthenticated", err)
	}

	id, tok = start()
	if err := a.Tokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Session(ctx, id); !apperr.Is(err, apperr.Unauthenticated) {
		t.Errorf("Session of a revoked token: %v; want Unauthenticated", err)
	}

	id, _ = start()
	clk.add(token.SessionAge - time.Second)
	if _, err := other.Session(ctx, id); err != nil {
		t.Errorf("Session a second before it expires: %v", err)
	}
	clk.add(time.Second)
	if _, err := other.Session(ctx, id); !apperr.Is(err, apperr.Unauthenticated) {
		t.Errorf("Session at SessionAge: %v; want Unauthenticated", err)
	}
	for _, bad := range []string{"", "not-a-session", string(make([]byte, 100))} {
		if _, err := other.Session(ctx, bad); !apperr.Is(err, apperr.Unauthenticated) {
			t.Errorf("Session(%q): %v; want Unauthenticated", bad, err)
		}
	}
}
