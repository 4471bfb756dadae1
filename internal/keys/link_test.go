package keys_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

// TestLinkRoundTrip: a sealed link opens to its payload for its use only; the token is
// base64url within the stated bounds and shows nothing of the payload; two seals of one payload
// differ (random nonce).
func TestLinkRoundTrip(t *testing.T) {
	kr := openTest(t, t.TempDir(), true)
	payload := []byte("\x01\x24018f3c2a-7b1e-7c3d-9a4b-5e6f7a8b9c0dnewsletter")
	tok, err := kr.SealLink("unsubscribe", payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < keys.MinLinkToken || len(tok) > keys.MaxLinkToken || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("token %q: want base64url of %d to %d characters", tok, keys.MinLinkToken, keys.MaxLinkToken)
	}
	got, err := kr.OpenLink("unsubscribe", tok)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("OpenLink = %q, %v; want %q", got, err, payload)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for _, part := range []string{"018f3c2a", "newsletter", "7b1e"} {
		if bytes.Contains(raw, []byte(part)) || strings.Contains(tok, part) {
			t.Errorf("the token shows %q of its payload", part)
		}
	}
	if again, _ := kr.SealLink("unsubscribe", payload); again == tok {
		t.Error("two seals of one payload gave one token: the nonce is not random")
	}
	if _, err := kr.OpenLink("confirm", tok); !errors.Is(err, keys.ErrLink) {
		t.Errorf("OpenLink for another use = %v; want ErrLink", err)
	}
	if _, err := kr.SealLink("unsubscribe", make([]byte, keys.MaxLinkPayload+1)); err == nil {
		t.Error("SealLink sealed a payload over MaxLinkPayload")
	}
	long, err := kr.SealLink("unsubscribe", make([]byte, keys.MaxLinkPayload))
	if err != nil || len(long) != keys.MaxLinkToken {
		t.Errorf("the longest payload: %d characters, %v; want %d", len(long), err, keys.MaxLinkToken)
	}
}

// TestLinkTamperedRefused: every change of one character, a cut or longer token, junk and a
// token of another installation are refused with ErrLink.
func TestLinkTamperedRefused(t *testing.T) {
	kr := openTest(t, t.TempDir(), true)
	tok, err := kr.SealLink("unsubscribe", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for i := range len(tok) {
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		bad = append(bad, tok[:i]+string(c)+tok[i+1:])
	}
	other, _ := openTest(t, t.TempDir(), true).SealLink("unsubscribe", []byte("payload"))
	bad = append(bad, tok[:len(tok)-1], tok+"A", tok+"AAAA", "", "x", strings.Repeat("A", keys.MinLinkToken),
		strings.Repeat("A", keys.MaxLinkToken+1), strings.Repeat("[", 1<<16), tok[:10]+"+"+tok[11:], other)
	for _, s := range bad {
		if p, err := kr.OpenLink("unsubscribe", s); !errors.Is(err, keys.ErrLink) {
			t.Errorf("OpenLink(%q) = %q, %v; want ErrLink", s, p, err)
		}
	}
}

// TestLinkOpensUnderAnOlderIndexKey: after the bidx keyset's rotation (a key added and made
// primary), a token sealed under the old key still opens, a new one is sealed under the new key
// and opens in a process that has both; once the old key is deleted its tokens open no more.
func TestLinkOpensUnderAnOlderIndexKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keysets.json")
	server := openTest(t, dir, true)
	old, err := server.SealLink("unsubscribe", []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	root := rootOf(t, dir)
	oldID := server.Info()[keys.KeysetBidx].Primary
	id, err := keys.AddKey(file, root, keys.KeysetBidx)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.SetPrimary(file, root, keys.KeysetBidx, id); err != nil {
		t.Fatal(err)
	}
	if changed, err := server.Refresh(); !changed || err != nil {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	newer, err := server.SealLink("unsubscribe", []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{old: "before", newer: "after"} {
		if got, err := server.OpenLink("unsubscribe", tok); err != nil || string(got) != want {
			t.Errorf("OpenLink after the rotation = %q, %v; want %q", got, err, want)
		}
	}
	if err := keys.DeleteKey(file, root, keys.KeysetBidx, oldID); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, err := server.OpenLink("unsubscribe", old); !errors.Is(err, keys.ErrLink) {
		t.Errorf("a token under a deleted key: %v; want ErrLink", err)
	}
	if got, err := server.OpenLink("unsubscribe", newer); err != nil || string(got) != "after" {
		t.Errorf("the new key's token after the old key's deletion = %q, %v", got, err)
	}
}
