package storetest

import (
	"testing"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/token"
)

func testTokens(t *testing.T, s *suite) {
	a := token.Token{ID: "tok-a", Name: "crm-sync", Role: token.RoleAgent, CreatedAt: t0}
	b := token.Token{ID: "tok-b", Name: "support desk", Role: token.RoleAuditor, CreatedAt: t2}
	hashA, hashB := token.Hash("tlt_secret-a"), token.Hash("tlt_secret-b")
	s.update(t, func(tx Tx) error {
		if err := tx.InsertToken(s.ctx, a, hashA); err != nil {
			return err
		}
		return tx.InsertToken(s.ctx, b, hashB)
	})
	s.update(t, func(tx Tx) error {
		for _, c := range []struct {
			hash []byte
			want token.Token
		}{{hashA, a}, {hashB, b}} {
			got, err := tx.TokenByHash(s.ctx, c.hash)
			if err != nil {
				return err
			}
			if got.ID != c.want.ID || got.Name != c.want.Name || got.Role != c.want.Role || got.RevokedAt != nil {
				t.Errorf("TokenByHash = %+v, want %+v", got, c.want)
			}
			checkTime(t, "token "+c.want.ID+" CreatedAt", got.CreatedAt, c.want.CreatedAt)
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		if n, err := tx.CountLiveTokens(s.ctx); err != nil || n != 2 {
			t.Errorf("CountLiveTokens = %d, %v; want 2", n, err)
		}
		if err := tx.RevokeToken(s.ctx, "tok-a", t1); err != nil {
			return err
		}
		wantKind(t, "RevokeToken twice", tx.RevokeToken(s.ctx, "tok-a", t2), apperr.NotFound)
		wantKind(t, "RevokeToken(missing)", tx.RevokeToken(s.ctx, "tok-x", t2), apperr.NotFound)
		got, err := tx.TokenByHash(s.ctx, hashA)
		if err != nil {
			return err
		}
		if got.RevokedAt == nil {
			t.Fatalf("TokenByHash after revoke: RevokedAt nil")
		}
		checkTime(t, "RevokedAt", *got.RevokedAt, t1)
		if n, err := tx.CountLiveTokens(s.ctx); err != nil || n != 1 {
			t.Errorf("CountLiveTokens after revoke = %d, %v; want 1", n, err)
		}
		list, err := tx.ListTokens(s.ctx)
		if err != nil {
			return err
		}
		if len(list) != 2 || list[0].ID != "tok-a" || list[1].ID != "tok-b" || list[0].RevokedAt == nil || list[1].RevokedAt != nil {
			t.Errorf("ListTokens = %+v; want tok-a (revoked) then tok-b", list)
		}
		return nil
	})
}
