package optin_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/optin"
)

// noStore fails the test when a transaction is opened.
type noStore struct{ t *testing.T }

func (s noStore) Update(ctx context.Context, fn func(optin.Tx) error) error {
	s.t.Errorf("a transaction was opened for a link secret of the wrong shape")
	return nil
}

func (s noStore) View(ctx context.Context, fn func(optin.Tx) error) error {
	s.t.Errorf("a transaction was opened for a link secret of the wrong shape")
	return nil
}

type noUnsubscribeStore struct{ t *testing.T }

func (s noUnsubscribeStore) Update(ctx context.Context, fn func(optin.UnsubscribeTx) error) error {
	s.t.Errorf("a transaction was opened for a link secret of the wrong shape")
	return nil
}

// TestJunkLinksCostNoTransaction: the public link routes (/p/confirm/…, /u/…, /p/preferences/…)
// took the store's write lock for any string in the URL. A secret that is not 32 bytes of
// base64url is an unknown link, answered without opening a transaction.
func TestJunkLinksCostNoTransaction(t *testing.T) {
	ctx := context.Background()
	svc := &optin.Service{Store: noStore{t}}
	unsub := &optin.Unsubscribe{Store: noUnsubscribeStore{t}}
	for _, secret := range []string{"", "x", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("A", 42) + "B", strings.Repeat("[", 1<<16), "tlt_" + strings.Repeat("A", 43)} {
		if _, ok, err := svc.Peek(ctx, secret); ok || err != nil {
			t.Errorf("Peek: %v, %v", ok, err)
		}
		if res, err := svc.Confirm(ctx, secret, "192.0.2.1", "ua", false); res.Confirmed || err != nil {
			t.Errorf("Confirm: %+v, %v", res, err)
		}
		if _, ok, err := svc.Preferences(ctx, secret); ok || err != nil {
			t.Errorf("Preferences: %v, %v", ok, err)
		}
		if ch, err := svc.ChangePreference(ctx, secret, "newsletter", "withdraw", "192.0.2.1", "ua", false); ch.Outcome != optin.OutcomeNone || err != nil {
			t.Errorf("ChangePreference: %+v, %v", ch, err)
		}
		if _, _, ok, err := unsub.Scope(ctx, secret); ok || err != nil {
			t.Errorf("Scope: %v, %v", ok, err)
		}
		if ok, err := unsub.Withdraw(ctx, secret, "192.0.2.1", "ua", false); ok || err != nil {
			t.Errorf("Withdraw: %v", err)
		}
	}
}

// TestJunkSealedLinksCostNoTransaction: a string of a sealed link's length and alphabet that
// these keys did not seal (junk, a token tampered with, one of another installation, one sealed
// for another use) names nothing, decided by one AEAD open without a transaction.
func TestJunkSealedLinksCostNoTransaction(t *testing.T) {
	ctx := context.Background()
	open := func(dir string) *keys.Keyring {
		kr, _, err := keys.Open(keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json"), Create: true})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	kr := open(t.TempDir())
	svc := &optin.Service{Store: noStore{t}, Keys: kr}
	unsub := &optin.Unsubscribe{Store: noUnsubscribeStore{t}, Keys: kr}
	mine, err := kr.SealLink("unsubscribe", []byte("u\x02c1newsletter"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := open(t.TempDir()).SealLink("unsubscribe", []byte("u\x02c1newsletter"))
	otherUse, _ := kr.SealLink("confirm", []byte("u\x02c1newsletter"))
	bad, _ := kr.SealLink("unsubscribe", []byte("x\x02c1newsletter"))
	c := "A"
	if mine[20] == 'A' {
		c = "B"
	}
	tampered := mine[:20] + c + mine[21:]
	for _, secret := range []string{strings.Repeat("A", keys.MinLinkToken), strings.Repeat("A", keys.MaxLinkToken), strings.Repeat("A", keys.MaxLinkToken+1), tampered, foreign, otherUse, bad} {
		if _, ok, err := svc.Preferences(ctx, secret); ok || err != nil {
			t.Errorf("Preferences: %v, %v", ok, err)
		}
		if ch, err := svc.ChangePreference(ctx, secret, "newsletter", "unsubscribe", "192.0.2.1", "ua", false); ch.Outcome != optin.OutcomeNone || err != nil {
			t.Errorf("ChangePreference: %+v, %v", ch, err)
		}
		if _, _, ok, err := unsub.Scope(ctx, secret); ok || err != nil {
			t.Errorf("Scope: %v, %v", ok, err)
		}
		if ok, err := unsub.Withdraw(ctx, secret, "192.0.2.1", "ua", false); ok || err != nil {
			t.Errorf("Withdraw: %v, %v", ok, err)
		}
	}
}
