package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
)

// SessionAge is how long a console sign-in lasts.
const SessionAge = 8 * time.Hour

// noSession is the answer for a session id that is unknown, expired, or whose token was revoked.
var noSession = &apperr.Error{Kind: apperr.Unauthenticated, Reason: "invalid_session", Message: "the console session is not valid"}

// SignIn starts a console session for the token with this secret: it returns a new random
// session id (32 bytes, base64url) for the cookie, and the token. The store keeps the session
// id's SHA-256 and the token's hash, never the secret, so every node of a cluster knows the
// session, and it ends at SessionAge, at SignOut, or when the token is revoked. Audited
// "console.sign_in"; expired sessions are deleted on the way. Unauthenticated for a secret that
// is not a live token.
func (s *Service) SignIn(ctx context.Context, secret string) (string, Token, error) {
	t, err := s.Authenticate(ctx, secret)
	if err != nil {
		return "", Token{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(raw)
	now := s.Now().UTC()
	err = s.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.DeleteExpiredConsoleSessions(ctx, now); err != nil {
			return err
		}
		if err := tx.InsertConsoleSession(ctx, Hash(id), Hash(secret), now.Add(SessionAge)); err != nil {
			return err
		}
		ev := audit.New(audit.WithActor(ctx, t.Actor()), now, "console.sign_in", "token", t.ID)
		return tx.AppendAudit(ctx, &ev)
	})
	if err != nil {
		return "", Token{}, err
	}
	return id, t, nil
}

// Session returns the token of a live console session; Unauthenticated when the id is unknown,
// the session expired, or its token was revoked.
func (s *Service) Session(ctx context.Context, id string) (Token, error) {
	if id == "" || len(id) > 64 {
		return Token{}, noSession
	}
	var t Token
	err := s.Store.View(ctx, func(tx Tx) error {
		tokenHash, expires, err := tx.ConsoleSession(ctx, Hash(id))
		if err != nil {
			return err
		}
		if !s.Now().Before(expires) {
			return noSession
		}
		t, err = tx.TokenByHash(ctx, tokenHash)
		if err == nil && t.RevokedAt != nil {
			return noSession
		}
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return Token{}, noSession
	}
	return t, err
}

// SignOut ends the console session with this id on every node ("console.sign_out" when there
// was one).
func (s *Service) SignOut(ctx context.Context, id string) error {
	t, err := s.Session(ctx, id)
	if apperr.Is(err, apperr.Unauthenticated) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteConsoleSession(ctx, Hash(id)); err != nil {
			return err
		}
		ev := audit.New(audit.WithActor(ctx, t.Actor()), s.Now().UTC(), "console.sign_out", "token", t.ID)
		return tx.AppendAudit(ctx, &ev)
	})
}

// Actor is the audit actor of a call made with t.
func (t Token) Actor() audit.Actor {
	return audit.Actor{Kind: audit.ActorToken, ID: t.ID, Role: string(t.Role)}
}
