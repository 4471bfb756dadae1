//go:build cgo

package pkcs11_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/keys/pkcs11"
	"github.com/tillit/tillit/internal/keys/pkcs11/softhsmtest"
)

func parse(t *testing.T, raw string) pkcs11.URI {
	t.Helper()
	u, err := pkcs11.ParseURI(raw)
	if err != nil {
		t.Fatalf("ParseURI: %v", err)
	}
	return u
}

func open(t *testing.T, raw string, create bool) (*pkcs11.Key, bool) {
	t.Helper()
	k, created, err := pkcs11.Open(parse(t, raw), create)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k, created
}

// TestKeyringInSoftHSMOpensAgain: the first Open with create generates the root key in the
// token; a keyring made with it opens again (a second Open finds the key by its label, made
// nothing) and its data keys and blind indexes are the same. No key file is written.
func TestKeyringInSoftHSMOpensAgain(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	dir := t.TempDir()
	ks := filepath.Join(dir, "keysets.json")

	k, created := open(t, tok.URI("tillit-root"), true)
	if !created {
		t.Fatal("the first Open made no key")
	}
	kr, created, err := keys.Open(keys.Config{Root: k, RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: ks, Create: true})
	if err != nil || !created {
		t.Fatalf("keys.Open = %v, created %v; want new keysets", err, created)
	}
	_, wrapped, err := kr.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com")
	if err := k.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if kind, err := keys.WrappedBy(ks); err != nil || kind != keys.RootPKCS11 {
		t.Errorf("WrappedBy = %q, %v; want %q", kind, err, keys.RootPKCS11)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the data directory holds %d files; want keysets.json only", len(entries))
	}

	k2, created := open(t, tok.URI("tillit-root"), true)
	if created {
		t.Error("the second Open made another key")
	}
	kr2, created, err := keys.Open(keys.Config{Root: k2, KeysetFile: ks})
	if err != nil || created {
		t.Fatalf("second keys.Open = %v, created %v; want the same keysets", err, created)
	}
	if _, err := kr2.OpenDataKey("c1", 1, wrapped); err != nil {
		t.Errorf("a data key made before does not open: %v", err)
	}
	if idx2, _ := kr2.BlindIndex(keys.IndexEmail, 1, "a@example.com"); !bytes.Equal(idx, idx2) {
		t.Error("the blind index differs after opening again")
	}
	if n := countKeys(t, tok, "tillit-root"); n != 1 {
		t.Errorf("the token holds %d keys labelled tillit-root; want 1", n)
	}
}

// TestOpenRefusesWrongPINLabelAndToken: each mistake gets an error that says what is wrong and
// never holds the PIN.
func TestOpenRefusesWrongPINLabelAndToken(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	tok.Add(t, "other")
	k, _ := open(t, tok.URI("tillit-root"), true)
	k.Close()

	wrongPIN := strings.Replace(tok.URI("tillit-root"), "pin-value="+tok.PIN, "pin-value=98761", 1)
	for _, c := range []struct {
		name, uri string
		create    bool
		want      string
	}{
		{"wrong PIN", wrongPIN, false, `the user PIN of token "tillit" is wrong`},
		{"wrong PIN, create", wrongPIN, true, `the user PIN of token "tillit" is wrong`},
		{"wrong label", tok.URI("tillit-rot"), false, `token "tillit" holds no secret key labelled tillit-rot`},
		{"wrong token", strings.Replace(tok.URI("tillit-root"), "token=tillit", "token=tilit", 1), true, `no token of module ` + tok.Module + ` matches token="tilit" (its tokens: "other", "tillit")`},
		{"any token", strings.Replace(tok.URI("tillit-root"), "token=tillit;", "", 1), true, `tokens of module ` + tok.Module + ` match (any token) ("other", "tillit"); select one`},
		{"no module", strings.Replace(tok.URI("tillit-root"), tok.Module, "/nonexistent/libp11.so", 1), true, "module /nonexistent/libp11.so: stat /nonexistent/libp11.so: no such file"},
		{"not a module", strings.Replace(tok.URI("tillit-root"), tok.Module, "/etc/passwd", 1), true, "cannot load the module /etc/passwd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := pkcs11.Open(parse(t, c.uri), c.create)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open = %v; want an error with %q", err, c.want)
			}
			if strings.Contains(err.Error(), "98761") || strings.Contains(err.Error(), tok.PIN) {
				t.Errorf("the error holds a PIN: %v", err)
			}
		})
	}
	if n := countKeys(t, tok, "tillit-rot"); n != 0 {
		t.Errorf("a refused Open made %d keys", n)
	}
}

// TestKeyNeverLeavesTheToken: the key Open generates is sensitive and not extractable, and the
// token refuses to give its value.
func TestKeyNeverLeavesTheToken(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	k, _ := open(t, tok.URI("tillit-root"), true)
	k.Close()

	withSession(t, tok, func(ctx *p11.Ctx, sh p11.SessionHandle) {
		objs := find(t, ctx, sh, "tillit-root")
		if len(objs) != 1 {
			t.Fatalf("%d keys labelled tillit-root; want 1", len(objs))
		}
		attrs, err := ctx.GetAttributeValue(sh, objs[0], []*p11.Attribute{
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_TOKEN, nil),
			p11.NewAttribute(p11.CKA_PRIVATE, nil),
			p11.NewAttribute(p11.CKA_WRAP, nil),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint]bool{p11.CKA_EXTRACTABLE: false, p11.CKA_SENSITIVE: true, p11.CKA_TOKEN: true, p11.CKA_PRIVATE: true, p11.CKA_WRAP: false}
		for _, a := range attrs {
			if got := len(a.Value) == 1 && a.Value[0] != 0; got != want[a.Type] {
				t.Errorf("attribute %#x is %v; want %v", a.Type, got, want[a.Type])
			}
		}
		_, err = ctx.GetAttributeValue(sh, objs[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
		if !errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Errorf("reading CKA_VALUE: %v; want CKR_ATTRIBUTE_SENSITIVE", err)
		}
	})
}

// TestOpenRefusesReadableKey: a key under the label whose value can be read (CKA_SENSITIVE
// false, as one imported by hand may be) is refused, not used.
func TestOpenRefusesReadableKey(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	withSession(t, tok, func(ctx *p11.Ctx, sh p11.SessionHandle) {
		_, err := ctx.CreateObject(sh, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_LABEL, "plain"),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, false),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_VALUE, bytes.Repeat([]byte{7}, 32)),
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	_, _, err := pkcs11.Open(parse(t, tok.URI("plain")), true)
	if err == nil || !strings.Contains(err.Error(), "CKA_SENSITIVE is false") {
		t.Fatalf("Open of a readable key = %v; want a refusal naming CKA_SENSITIVE", err)
	}
}

// TestEncryptInTokenBindsAssociatedData: what the token seals opens with the same associated
// data only, and not once altered; two seals of the same plaintext differ (random IV).
func TestEncryptInTokenBindsAssociatedData(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	k, _ := open(t, tok.URI("tillit-root"), true)
	a, err := k.Encrypt([]byte("keyset"), []byte("tillit:keyset:wrap"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Encrypt([]byte("keyset"), []byte("tillit:keyset:wrap"))
	if bytes.Equal(a, b) || len(a) != 12+len("keyset")+16 {
		t.Errorf("ciphertexts %x and %x; want two different ones of %d bytes", a, b, 12+len("keyset")+16)
	}
	if pt, err := k.Decrypt(a, []byte("tillit:keyset:wrap")); err != nil || string(pt) != "keyset" {
		t.Errorf("Decrypt = %q, %v; want keyset", pt, err)
	}
	if _, err := k.Decrypt(a, []byte("tillit:keyset:bidx")); err == nil {
		t.Error("another associated data opened the ciphertext")
	}
	bad := bytes.Clone(a)
	bad[len(bad)-1] ^= 1
	if _, err := k.Decrypt(bad, []byte("tillit:keyset:wrap")); err == nil {
		t.Error("an altered ciphertext opened")
	}
	if _, err := k.Decrypt(a[:20], []byte("tillit:keyset:wrap")); err == nil {
		t.Error("a short ciphertext opened")
	}
	// The key still works after failed operations (the token ended them).
	if _, err := k.Decrypt(b, []byte("tillit:keyset:wrap")); err != nil {
		t.Errorf("Decrypt after failures: %v", err)
	}
}

// TestRewrapFromFileToToken: keysets made under a root key file move into the token
// (keys.Rewrap) and open with the token's key only, holding the same keys.
func TestRewrapFromFileToToken(t *testing.T) {
	tok := softhsmtest.New(t, "tillit")
	dir := t.TempDir()
	ks, rk := filepath.Join(dir, "keysets.json"), filepath.Join(dir, "root.key")
	kr, _, err := keys.Open(keys.Config{RootKeyFile: rk, KeysetFile: ks, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	_, wrapped, _ := kr.NewDataKey("c1", 1)
	file, _, err := keys.OpenRootFile(rk, false)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := open(t, tok.URI("tillit-root"), true)
	if err := keys.Rewrap(ks, file, k); err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	kr2, _, err := keys.Open(keys.Config{Root: k, KeysetFile: ks})
	if err != nil {
		t.Fatalf("Open with the token after the move: %v", err)
	}
	if _, err := kr2.OpenDataKey("c1", 1, wrapped); err != nil {
		t.Errorf("a data key made before the move does not open: %v", err)
	}
	if _, _, err := keys.Open(keys.Config{RootKeyFile: rk, KeysetFile: ks}); err == nil || !strings.Contains(err.Error(), "TILLIT_ROOT_KEY") {
		t.Errorf("Open with the old file key = %v; want a refusal naming TILLIT_ROOT_KEY", err)
	}
}

func withSession(t *testing.T, tok softhsmtest.Token, f func(*p11.Ctx, p11.SessionHandle)) {
	t.Helper()
	ctx := p11.New(tok.Module)
	// A Key the test holds open may have initialized the module already; then it finalizes.
	if err := ctx.Initialize(); errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		defer ctx.Destroy()
	} else if err != nil {
		t.Fatal(err)
	} else {
		defer func() { ctx.Finalize(); ctx.Destroy() }()
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil || strings.TrimRight(ti.Label, " ") != tok.Label {
			continue
		}
		sh, err := ctx.OpenSession(s, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer ctx.CloseSession(sh)
		if err := ctx.Login(sh, p11.CKU_USER, tok.PIN); errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
			// an open Key's login, which is the application's: leave it
		} else if err != nil {
			t.Fatal(err)
		} else {
			defer ctx.Logout(sh)
		}
		f(ctx, sh)
		return
	}
	t.Fatalf("no token labelled %s", tok.Label)
}

func find(t *testing.T, ctx *p11.Ctx, sh p11.SessionHandle, label string) []p11.ObjectHandle {
	t.Helper()
	if err := ctx.FindObjectsInit(sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, label)}); err != nil {
		t.Fatal(err)
	}
	defer ctx.FindObjectsFinal(sh)
	objs, _, err := ctx.FindObjects(sh, 100)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func countKeys(t *testing.T, tok softhsmtest.Token, label string) (n int) {
	t.Helper()
	withSession(t, tok, func(ctx *p11.Ctx, sh p11.SessionHandle) { n = len(find(t, ctx, sh, label)) })
	return n
}
