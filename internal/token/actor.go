package token

import (
	"context"

	"github.com/tillit/tillit/internal/audit"
)

// Permits reports whether the actor in ctx (audit.ActorFrom) holds permission p, and the role it
// was judged by: a token's role, or for another actor its kind ("system", "cli", "public"),
// which only an error message names.
//
// A token (audit.ActorToken, set by the API and the console for the caller's token) holds what
// its role grants (Allows). Tillit itself and a local command (audit.ActorSystem: start-up,
// scheduled jobs, retention sweeps, ledger replay; audit.ActorCLI; and a context that names no
// actor, which audit.ActorFrom reads as the system) act for the operator, who owns the data
// directory and could do anything, so they hold every permission. A visitor of a public page
// (audit.ActorPublic) holds none: the public paths act only on the visitor's own verified
// request, through rules that need no staff permission.
//
// Services call Permits inside the transaction that does the work, so a fine rule (closing an
// erasure request, using an erased address again) is the same for every caller: API, console,
// CLI and jobs.
func Permits(ctx context.Context, p Permission) (Role, bool) {
	a := audit.ActorFrom(ctx)
	switch a.Kind {
	case audit.ActorToken:
		return Role(a.Role), Allows(Role(a.Role), p)
	case audit.ActorSystem, audit.ActorCLI:
		return Role(a.Kind), true
	}
	return Role(a.Kind), false
}
