package postgres

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/store"
)

// TestLongSchemaNameIsRefusedAsTooLong (PostgreSQL trial): a schema name of 63 characters or
// more was refused as if it held a wrong character ("lower-case letters, digits and _"), which
// it did not. PostgreSQL cuts names at 63 bytes, and the store names NAME_keys and the
// notification channel tillit_NAME from NAME, so NAME may have MaxSchemaName characters: a
// longer one is refused as too long, giving the limit, and one of that length is accepted.
func TestLongSchemaNameIsRefusedAsTooLong(t *testing.T) {
	if MaxSchemaName != 63-len("tillit_") {
		t.Errorf("MaxSchemaName = %d; want %d (the channel tillit_NAME within PostgreSQL's 63 bytes)", MaxSchemaName, 63-len("tillit_"))
	}
	for _, n := range []int{MaxSchemaName + 1, 58, 63, 64, 100} {
		name := strings.Repeat("a", n)
		_, _, _, err := ParseURL("postgres://u@h/db?schema=" + name)
		if err == nil || !strings.Contains(err.Error(), "too long") || !strings.Contains(err.Error(), "at most "+strconv.Itoa(MaxSchemaName)) || strings.Contains(err.Error(), "lower-case") {
			t.Errorf("schema of %d characters: %v; want refused as too long, at most %d", n, err, MaxSchemaName)
		}
	}
	name := strings.Repeat("a", MaxSchemaName)
	if _, data, keys, err := ParseURL("postgres://u@h/db?schema=" + name); err != nil || data != name || keys != name+"_keys" {
		t.Errorf("schema of %d characters: %q, %q, %v; want accepted", MaxSchemaName, data, keys, err)
	}
	if _, _, _, err := ParseURL("postgres://u@h/db?schema=Crm-1"); err == nil || !strings.Contains(err.Error(), "lower-case") || strings.Contains(err.Error(), "too long") {
		t.Errorf("schema Crm-1: %v; want refused for its characters", err)
	}
}

// TestLongestSchemaNameServes: a store on a schema name of MaxSchemaName characters opens, and
// another node hears its commits on the channel tillit_NAME (63 bytes, not cut).
func TestLongestSchemaNameServes(t *testing.T) {
	prefix := "tl_" + strings.Repeat("x", MaxSchemaName-3-12)
	a, schema := openFresh(t, prefix, Config{})
	if len(schema) != MaxSchemaName {
		t.Fatalf("schema %q has %d characters; want %d", schema, len(schema), MaxSchemaName)
	}
	b := openSchemaNode(t, schema, Config{})
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); !b.listening.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b's listener did not connect within 20 s")
		}
	}
	before := b.gen.Load()
	err := a.Update(ctx, func(tx store.Tx) error {
		return tx.InsertPurpose(ctx, consent.Purpose{ID: "newsletter", Name: "Newsletter", LawfulBasis: consent.BasisConsent, CreatedAt: time.Now().UTC()})
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); b.gen.Load() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b did not hear a's commit within 20 s")
		}
	}
}
