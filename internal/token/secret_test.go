package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/apperr"
)

func newSecret(t testing.TB) string {
	raw := make([]byte, SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestWellFormed(t *testing.T) {
	link := newSecret(t)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{Prefix + link, true},
		{link, false}, // a link secret is no API token
		{Prefix + strings.Repeat("A", 43), true},
		{Prefix + strings.Repeat("_", 42) + "w", true},
		{Prefix + strings.Repeat("_", 42) + "x", false}, // low bits of the last character set: not canonical
		{Prefix + link[:42], false},
		{Prefix + link + "A", false},
		{Prefix + link[:42] + "=", false},
		{Prefix + strings.Repeat("+", 43), false}, // standard base64, not URL-safe
		{"tlt_not-a-real-token", false},
		{"TLT_" + link, false},
		{Prefix + strings.Repeat("A", 200), false},
		{"", false},
	} {
		if got := WellFormed(tc.in); got != tc.want {
			t.Errorf("WellFormed(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
	if !WellFormedLink(link) || WellFormedLink(Prefix+link) {
		t.Errorf("WellFormedLink(%q): a link secret must pass, an API token not", link)
	}
}

// lookups is a Store whose every transaction counts and finds no token.
type lookups struct{ n int }

func (l *lookups) Update(ctx context.Context, fn func(Tx) error) error { l.n++; return fn(nil) }
func (l *lookups) View(ctx context.Context, fn func(Tx) error) error {
	l.n++
	return apperr.New(apperr.NotFound, "no token")
}

// FuzzWellFormed: a secret is well-formed exactly when it is Prefix and the canonical unpadded
// base64url of 32 bytes; Authenticate refuses every other string without a store lookup, and
// every string at all with Unauthenticated when the store has no such token.
func FuzzWellFormed(f *testing.F) {
	for _, s := range []string{Prefix + newSecret(f), newSecret(f), "tlt_not-a-real-token", "", Prefix, Prefix + strings.Repeat("_", 43), "Bearer " + Prefix + newSecret(f)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The oracle: strict base64url decoding (which skips line breaks, so those are refused
		// separately) to exactly 32 bytes.
		canonical := func(s string) bool {
			raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
			return err == nil && len(raw) == SecretBytes && !strings.ContainsAny(s, "\r\n")
		}
		if got, want := WellFormedLink(s), canonical(s); got != want {
			t.Fatalf("WellFormedLink(%q) = %v; want %v", s, got, want)
		}
		body, isToken := strings.CutPrefix(s, Prefix)
		want := isToken && canonical(body)
		if got := WellFormed(s); got != want {
			t.Fatalf("WellFormed(%q) = %v; want %v", s, got, want)
		}
		store := &lookups{}
		svc := &Service{Store: store}
		_, aerr := svc.Authenticate(context.Background(), s)
		if apperr.KindOf(aerr) != apperr.Unauthenticated {
			t.Fatalf("Authenticate(%q) = %v; want Unauthenticated", s, aerr)
		}
		if store.n > 0 && !want {
			t.Fatalf("Authenticate(%q) looked up an ill-formed secret", s)
		}
	})
}
