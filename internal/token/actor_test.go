package token_test

import (
	"context"
	"testing"

	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/token"
)

// TestPermits: a token holds what its role grants, Tillit's own jobs and local commands hold
// everything (as before the rules moved into the services), a public visitor nothing.
func TestPermits(t *testing.T) {
	tok := func(r token.Role) context.Context {
		return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorToken, ID: "t1", Role: string(r)})
	}
	cases := []struct {
		name     string
		ctx      context.Context
		perm     token.Permission
		wantRole token.Role
		want     bool
	}{
		{"admin erases", tok(token.RoleAdmin), token.ContactsErase, "admin", true},
		{"dpo restricts", tok(token.RoleDPO), token.ContactsRestrict, "dpo", true},
		{"agent may not erase", tok(token.RoleAgent), token.ContactsErase, "agent", false},
		{"agent may not restrict", tok(token.RoleAgent), token.ContactsRestrict, "agent", false},
		{"agent reads contacts", tok(token.RoleAgent), token.ContactsRead, "agent", true},
		{"auditor may not read contacts", tok(token.RoleAuditor), token.ContactsRead, "auditor", false},
		{"processor may not read the audit log", tok(token.RoleProcessor), token.AuditRead, "processor", false},
		{"a token of an unknown role holds nothing", tok("root"), token.ContactsRead, "root", false},
		{"no actor is the system", context.Background(), token.ContactsErase, "system", true},
		{"retention sweep", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorSystem, ID: "retention"}), token.ContactsErase, "system", true},
		{"local command", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorCLI, ID: "import"}), token.ContactsRestrict, "cli", true},
		{"public visitor", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic, ID: "requests"}), token.ContactsRestrict, "public", false},
		{"public visitor reads nothing", audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorPublic, ID: "requests"}), token.ContactsRead, "public", false},
	}
	for _, c := range cases {
		role, ok := token.Permits(c.ctx, c.perm)
		if role != c.wantRole || ok != c.want {
			t.Errorf("%s: Permits(%s) = %q, %v; want %q, %v", c.name, c.perm, role, ok, c.wantRole, c.want)
		}
	}
}
