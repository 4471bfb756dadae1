package apptest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/token"
)

// Server is one App served as tillit serve serves it, in the test's process: HTTP on
// 127.0.0.1 (httptest) over App.HTTP.Handler(), the background jobs of App.Start running, and
// the first admin token minted. Its fields are set by Serve and never changed after, except
// Token, which a test may set (to the token of an earlier Server on the same directory).
type Server struct {
	// Client calls the server: Base is its URL, http://127.0.0.1:port (also Settings.BaseURL
	// unless TILLIT_BASE_URL is given); Token is the one-time admin token of the first start, ""
	// when the directory had an admin already.
	*Client
	App *app.App
	Dir string // the data directory
	// MailDir holds the .eml files of the file transport (app.MailDir).
	MailDir string
	// Logs holds what the services logged, at the configured level (TILLIT_LOG_LEVEL).
	Logs *Logs

	t       testing.TB
	http    *httptest.Server
	stop    func()
	closing sync.Once
}

// Serve starts a Server on a fresh data directory under t.TempDir() with the settings tillit
// serve would have with no environment: config.Default, the base URL following the address
// taken. Each option then edits the app.Config before app.New, as for New: Dir opens another
// (or an earlier Server's) data directory, Env sets TILLIT_* settings (TILLIT_SMTP_URL picks
// SMTP, TILLIT_DKIM_* signs), Now sets the clock. The start is serve's: the App is built,
// the first admin token minted (token.Service.EnsureAdmin) and kept in Token, App.Start readies
// the installation (mail files of the erased, the first sweep) and starts the jobs, and only
// then does the server answer. The audit actor of the start is the system's "serve". t.Cleanup
// closes the Server (Close); Serve fails the test on any error.
func Serve(t testing.TB, options ...func(*app.Config)) *Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	s := config.Default()
	s.DataDir, s.BaseURL = t.TempDir(), "http://"+srv.Listener.Addr().String()
	logs := &Logs{}
	cfg := app.Config{Settings: s}
	level := func(c *app.Config) {
		var l slog.Level
		_ = l.UnmarshalText([]byte(c.Settings.LogLevel))
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: l}))
	}
	a, err := open(t, cfg, append(options, level)...)
	if err != nil {
		srv.Close()
		t.Fatalf("apptest.Serve: %v", err)
	}
	p := &Server{Client: NewClient(t, "http://"+srv.Listener.Addr().String(), ""), App: a, Dir: a.Settings.DataDir,
		MailDir: app.MailDir(a.Settings.DataDir), Logs: logs, t: t, http: srv}
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorSystem, ID: "serve"})
	if p.Token, err = a.Tokens.EnsureAdmin(ctx, "first-start admin"); err != nil {
		a.Close()
		srv.Close()
		t.Fatalf("apptest.Serve: first admin token: %v", err)
	}
	if p.stop, err = a.Start(ctx); err != nil {
		a.Close()
		srv.Close()
		t.Fatalf("apptest.Serve: start: %v", err)
	}
	srv.Config.Handler = a.HTTP.Handler()
	// As tillit serve: every request starts as a public visitor holding no permission.
	srv.Config.BaseContext = func(net.Listener) context.Context {
		return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic})
	}
	srv.Start()
	t.Cleanup(p.Close)
	return p
}

// Close shuts the Server down as tillit serve does at the end: the HTTP server first (waiting
// for requests in flight), then the background jobs, then the store. Calls after the first do
// nothing; t.Cleanup calls it too.
func (p *Server) Close() {
	p.closing.Do(func() {
		p.http.Close()
		p.stop()
		if err := p.App.Close(); err != nil {
			p.t.Errorf("apptest: closing the store: %v", err)
		}
	})
}

// Mint creates a token of role named name, as tillit token create does (the audit actor is
// the CLI's "token-create"), and returns its secret. processor names the processor a
// token.RoleProcessor token speaks for ("" for the other roles).
func (p *Server) Mint(role token.Role, name, processor string) string {
	p.t.Helper()
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "token-create"})
	_, secret, err := p.App.Tokens.CreateFor(ctx, role, name, processor)
	if err != nil {
		p.t.Fatalf("apptest: minting a %s token: %v", role, err)
	}
	return secret
}

// Revoke revokes the one token called name, as tillit token revoke does with the id tillit
// token list shows (the audit actor is the CLI's "token-revoke"), and returns its id. No token
// of that name, or more than one, fails the test.
func (p *Server) Revoke(name string) string {
	p.t.Helper()
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "token-revoke"})
	list, err := p.App.Tokens.List(ctx)
	if err != nil {
		p.t.Fatalf("apptest: listing tokens: %v", err)
	}
	var ids []string
	for _, tk := range list {
		if tk.Name == name {
			ids = append(ids, tk.ID)
		}
	}
	if len(ids) != 1 {
		p.t.Fatalf("apptest: %d tokens called %q; want one to revoke", len(ids), name)
	}
	if err := p.App.Tokens.Revoke(ctx, ids[0]); err != nil {
		p.t.Fatalf("apptest: revoking %q: %v", name, err)
	}
	return ids[0]
}

// Logs is what a Server's services logged; safe for the server's goroutines and the test.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
