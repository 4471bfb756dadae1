package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/token"
)

// TestUnauthenticatedRequestHoldsNoPermission (review of issue 12): serve puts the system actor
// in its context (audit.ActorSystem "serve", serve.go) and serveHTTP hands that context to every
// request (http.Server.BaseContext). Before issue 12 that was harmless: fine rules read the
// token's role (token.Allows(Role(actor.Role), …)), and the system actor has none. Now the fine
// rules ask token.Permits, which grants the system actor every permission, so every request
// that no token authenticated (the portal, /webhooks/acknowledgements, /readyz) starts out
// holding contacts.erase, contacts.restrict and audit.read until a service remembers to put
// audit.ActorPublic in its context. The portal's services do that today; a handler or service
// that forgets (or calls a rule before doing it) is fail-open. A request must start as a
// public visitor, holding nothing.
func TestUnauthenticatedRequestHoldsNoPermission(t *testing.T) {
	ctx, cancel := context.WithCancel(audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorSystem, ID: "serve"})) // as serve does
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	granted := map[token.Permission]bool{}
	probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range []token.Permission{token.ContactsErase, token.ContactsRestrict, token.AuditRead, token.ContactsRead} {
			if _, ok := token.Permits(r.Context(), p); ok {
				granted[p] = true
			}
		}
	})
	done := make(chan error, 1)
	go func() { done <- serveHTTP(ctx, Env{}, ln, probe, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	resp, err := http.Post("http://"+ln.Addr().String()+"/p/requests", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	<-done
	if len(granted) > 0 {
		t.Errorf("an unauthenticated request's context grants %v (actor %+v); want no permission", granted, audit.ActorFrom(ctx))
	}
}
