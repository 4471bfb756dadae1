package cli_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/keys/pkcs11/softhsmtest"
	"github.com/tillit/tillit/internal/store/storetest/testdb"
)

// TestRotateKeysetsWithRootKeyInToken: with the root key in a PKCS#11 token (SoftHSM2), as set-up
// and "Rotating keys while serving" in the README describe, one run of tillit keys rotate --wrap
// and one of --bidx beside a serving tillit each finish (exit 0) and the contact still reads by
// its address. Found by trial 14: every run failed after its first step with
// `keys: open "wrap" keyset: keyset.Handle: decryption failed: pkcs11: decrypt with key
// tillit-root: pkcs11: 0x82: CKR_OBJECT_HANDLE_INVALID` (the command opens keysets.json a second
// time after the token's session was closed), so a rotation took several runs, each ending in an
// error.
func TestRotateKeysetsWithRootKeyInToken(t *testing.T) {
	testdb.RequireSQLite(t, "the rotation's steps are the same on PostgreSQL; one store suffices here")
	tok := softhsmtest.New(t, "tillit")
	dir := t.TempDir()
	env := map[string]string{"TILLIT_ROOT_KEY": tok.URI("tillit-root")}
	p := startProgramEnv(t, dir, env)
	defer p.stop()
	var c struct {
		ID string `json:"id"`
	}
	if st := p.do("POST", "/api/v1/contacts", map[string]any{"email": "rotate.token@example.org", "first_name": "Ragna"}, &c); st != 201 {
		t.Fatalf("create a contact: %d", st)
	}
	for _, which := range []string{"--wrap", "--bidx"} {
		code, out, errs := runCLIEnv(t, env, "keys", "rotate", which, "--data", dir)
		if code != 0 {
			t.Errorf("keys rotate %s with the root key in a token: exit %d; want 0\n%s%s", which, code, out, errs)
		}
		if strings.Contains(out+errs, tok.PIN) {
			t.Errorf("keys rotate %s printed the PIN", which)
		}
		var got struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		st := p.do("POST", "/api/v1/contacts/lookup", map[string]any{"email": "rotate.token@example.org"}, &got)
		if st != 200 || len(got.Items) != 1 || got.Items[0].ID != c.ID {
			t.Errorf("lookup after keys rotate %s: %d %+v; want contact %s", which, st, got, c.ID)
		}
	}
}
