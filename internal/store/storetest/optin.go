package storetest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/optin"
)

// testOptinTokens: a double opt-in link comes back as stored and is used once (then
// NotFound); an unknown hash is NotFound; LastOptinToken is the contact's newest; links that expired before now are swept, one that
// expires at now is kept.
func testOptinTokens(t *testing.T, s *suite) {
	tok := optin.Token{Hash: []byte("oi-hash-a\x00"), ContactID: "oi-1", Purposes: []string{"newsletter", "offers"},
		PolicyVersions: map[string]string{"privacy_policy": "3"}, FormID: "form-footer", CreatedAt: t0, ExpiresAt: t1}
	expiring := optin.Token{Hash: []byte("oi-hash-b"), ContactID: "oi-1", Purposes: []string{"newsletter"},
		PolicyVersions: map[string]string{}, CreatedAt: t0.Add(-time.Second), ExpiresAt: t1.Add(-time.Nanosecond)}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("oi-1", "lead", nil, nil)); err != nil {
			return err
		}
		for _, x := range []optin.Token{tok, expiring} {
			if err := tx.InsertOptinToken(s.ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		got, err := tx.OptinTokenByHash(s.ctx, tok.Hash)
		if err != nil {
			return err
		}
		checkTime(t, "token CreatedAt", got.CreatedAt, tok.CreatedAt)
		checkTime(t, "token ExpiresAt", got.ExpiresAt, tok.ExpiresAt)
		got.CreatedAt, got.ExpiresAt = tok.CreatedAt, tok.ExpiresAt
		if !reflect.DeepEqual(got, tok) {
			t.Errorf("OptinTokenByHash = %+v; want %+v", got, tok)
		}
		_, err = tx.OptinTokenByHash(s.ctx, []byte("oi-none"))
		wantKind(t, "OptinTokenByHash(unknown)", err, apperr.NotFound)
		if last, err := tx.LastOptinToken(s.ctx, "oi-1"); err != nil || !bytes.Equal(last.Hash, tok.Hash) || !reflect.DeepEqual(last.Purposes, tok.Purposes) {
			t.Errorf("LastOptinToken = %+v, %v; want the newest, %s", last, err, tok.Hash)
		}
		_, err = tx.LastOptinToken(s.ctx, "oi-none")
		wantKind(t, "LastOptinToken(no token)", err, apperr.NotFound)
		if err := tx.UseOptinToken(s.ctx, tok.Hash, t1); err != nil {
			return err
		}
		wantKind(t, "UseOptinToken twice", tx.UseOptinToken(s.ctx, tok.Hash, t2), apperr.NotFound)
		got, err = tx.OptinTokenByHash(s.ctx, tok.Hash)
		if err != nil || got.UsedAt == nil {
			t.Errorf("OptinTokenByHash after use = %+v, %v; want UsedAt", got, err)
		} else {
			checkTime(t, "token UsedAt", *got.UsedAt, t1)
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		n, err := tx.DeleteExpiredOptinTokens(s.ctx, t1)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpiredOptinTokens(t1) = %d, %v; want 1 (the link that expired before t1)", n, err)
		}
		_, err = tx.OptinTokenByHash(s.ctx, expiring.Hash)
		wantKind(t, "OptinTokenByHash of a swept link", err, apperr.NotFound)
		if _, err := tx.OptinTokenByHash(s.ctx, tok.Hash); err != nil {
			t.Errorf("OptinTokenByHash of the link expiring at now: %v; want it kept", err)
		}
		if n, err := tx.DeleteExpiredOptinTokens(s.ctx, t1.Add(time.Nanosecond)); err != nil || n != 1 {
			t.Errorf("DeleteExpiredOptinTokens(just after t1) = %d, %v; want 1", n, err)
		}
		return nil
	})
}

// testUnsubscribeTokens: an unsubscribe link names its contact, purpose and kind; an unknown
// hash is NotFound.
func testUnsubscribeTokens(t *testing.T, s *suite) {
	links := map[string]optin.Link{
		"us-a": {ContactID: "us-1", Purpose: "newsletter", Kind: optin.LinkUnsubscribe},
		"us-b": {ContactID: "us-1", Purpose: "offers", Kind: optin.LinkRefuse},
	}
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, minimalRecord("us-1", "contact", nil, nil)); err != nil {
			return err
		}
		for _, p := range []string{"newsletter", "offers"} {
			if err := tx.InsertPurpose(s.ctx, purpose(p)); err != nil {
				return err
			}
		}
		for h, l := range links {
			if err := tx.InsertUnsubscribeToken(s.ctx, []byte(h), l, t0); err != nil {
				return err
			}
		}
		return nil
	})
	s.view(t, func(tx Tx) error {
		for h, want := range links {
			got, err := tx.UnsubscribeToken(s.ctx, []byte(h))
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("UnsubscribeToken(%s) = %+v, %v; want %+v", h, got, err, want)
			}
		}
		_, err := tx.UnsubscribeToken(s.ctx, []byte("us-none"))
		wantKind(t, "UnsubscribeToken(unknown)", err, apperr.NotFound)
		return nil
	})
}

// testSuppressionLifted: DeleteSuppression lifts an address's entry (the person's own new
// double opt-in) and no other; ContactBySuppressionHash finds the contact whose current
// address has the hash, and "" for an address no contact has now.
func testSuppressionLifted(t *testing.T, s *suite) {
	mine, other := []byte("sl-hash-1"), []byte("sl-hash-2")
	r := minimalRecord("sl-1", "contact", []byte("sl-index"), nil)
	r.SuppressionHash = mine
	s.update(t, func(tx Tx) error {
		if err := tx.InsertContact(s.ctx, r); err != nil {
			return err
		}
		for _, h := range [][]byte{mine, other} {
			if err := tx.AddSuppression(s.ctx, consent.Suppression{Hash: h, Reason: consent.SuppressionUnsubscribed, CreatedAt: t0, RecordedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	s.update(t, func(tx Tx) error {
		if id, stored, err := tx.ContactBySuppressionHash(s.ctx, mine); err != nil || id != "sl-1" || !bytes.Equal(stored, mine) {
			t.Errorf("ContactBySuppressionHash(its address) = %q, %q, %v; want sl-1 and its hash", id, stored, err)
		}
		if id, _, err := tx.ContactBySuppressionHash(s.ctx, other); err != nil || id != "" {
			t.Errorf("ContactBySuppressionHash(no contact's address) = %q, %v; want \"\"", id, err)
		}
		if err := tx.DeleteSuppression(s.ctx, mine); err != nil {
			return err
		}
		_, err := tx.Suppression(s.ctx, mine)
		wantKind(t, "Suppression after DeleteSuppression", err, apperr.NotFound)
		if got, err := tx.Suppression(s.ctx, other); err != nil || !bytes.Equal(got.Hash, other) || got.Reason != consent.SuppressionUnsubscribed {
			t.Errorf("Suppression(other) = %+v, %v; want it kept", got, err)
		}
		// The contact's address changes: the old hash names no contact now.
		r.SuppressionHash, r.Version = []byte("sl-hash-3"), 2
		if err := tx.UpdateContact(s.ctx, r); err != nil {
			return err
		}
		if id, _, err := tx.ContactBySuppressionHash(s.ctx, mine); err != nil || id != "" {
			t.Errorf("ContactBySuppressionHash(its former address) = %q, %v; want \"\"", id, err)
		}
		return nil
	})
}
