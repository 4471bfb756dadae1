package keys_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

func rootOf(t *testing.T, dir string) keys.Root {
	t.Helper()
	r, _, err := keys.OpenRootFile(filepath.Join(dir, "root.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWrapRotationSteps walks Tink's rotation of the wrap keyset through the keyset file while
// another Keyring (a running server) uses it: the key added is used by no one until it is
// primary; once primary, the server wraps new keys with it without a restart; a data key wrapped
// under the old key is re-wrapped under the new one and still opens the fields sealed with it;
// once the old key is deleted only what was re-wrapped opens.
func TestWrapRotationSteps(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keysets.json")
	server := openTest(t, dir, true)
	root := rootOf(t, dir)
	old := server.Info()[keys.KeysetWrap].Primary

	dk, wrappedOld, err := server.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := dk.Seal("contacts", "email", "c1", []byte("a@example.com"))
	if id, ok := keys.WrapKeyID(wrappedOld); !ok || id != old {
		t.Fatalf("WrapKeyID = %d, %v; want the primary %d", id, ok, old)
	}

	added, err := keys.AddKey(file, root, keys.KeysetWrap)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := server.Refresh(); !changed || err != nil {
		t.Fatalf("Refresh after AddKey = %v, %v; want changed", changed, err)
	}
	info := server.Info()[keys.KeysetWrap]
	if info.Primary != old || len(info.Keys) != 2 || info.Newest().ID != added || info.Newest().Status != "enabled" {
		t.Fatalf("after AddKey: %v; want %d added, enabled, not primary", info, added)
	}
	if changed, _ := server.Refresh(); changed {
		t.Fatal("Refresh with the file unchanged reported a change")
	}

	if err := keys.SetPrimary(file, root, keys.KeysetWrap, added); err != nil {
		t.Fatal(err)
	}
	server.Refresh()
	_, wrappedNew, err := server.NewDataKey("c2", 1)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := keys.WrapKeyID(wrappedNew); id != added {
		t.Fatalf("a key wrapped after SetPrimary is under %d; want %d", id, added)
	}

	out, changed, err := server.Rewrap("c1", 1, wrappedOld)
	if err != nil || !changed {
		t.Fatalf("Rewrap = %v, %v", changed, err)
	}
	if id, _ := keys.WrapKeyID(out); id != added {
		t.Fatalf("re-wrapped under %d; want %d", id, added)
	}
	if _, changed, _ := server.Rewrap("c2", 1, wrappedNew); changed {
		t.Fatal("Rewrap of a key under the primary changed it")
	}
	if _, _, err := server.Rewrap("c9", 1, wrappedOld); err == nil {
		t.Fatal("Rewrap of another owner's key succeeded; want the associated data to refuse it")
	}

	if err := keys.DisableKey(file, root, keys.KeysetWrap, old); err != nil {
		t.Fatal(err)
	}
	if err := keys.DeleteKey(file, root, keys.KeysetWrap, old); err != nil {
		t.Fatal(err)
	}
	fresh := openTest(t, dir, false)
	if got := fresh.Info()[keys.KeysetWrap]; len(got.Keys) != 1 || got.Primary != added {
		t.Fatalf("after DeleteKey: %v; want only %d", got, added)
	}
	if _, err := fresh.OpenDataKey("c1", 1, wrappedOld); err == nil {
		t.Fatal("a key wrapped under the deleted key still opens")
	}
	dk2, err := fresh.OpenDataKey("c1", 1, out)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := dk2.Open("contacts", "email", "c1", ct); err != nil || string(pt) != "a@example.com" {
		t.Fatalf("field after re-wrap = %q, %v", pt, err)
	}
}

// TestOpenDataKeyReloadsOnMiss: a process that has not looked at the keyset file since another
// made a new key primary opens a data key wrapped under it (the failed unwrap reloads).
func TestOpenDataKeyReloadsOnMiss(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keysets.json")
	a := openTest(t, dir, true)
	root := rootOf(t, dir)
	id, err := keys.AddKey(file, root, keys.KeysetWrap)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.SetPrimary(file, root, keys.KeysetWrap, id); err != nil {
		t.Fatal(err)
	}
	b := openTest(t, dir, false)
	_, wrapped, err := b.NewDataKey("c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.OpenDataKey("c1", 1, wrapped); err != nil {
		t.Fatalf("OpenDataKey of a key wrapped under a key added since: %v", err)
	}
}

// TestEditKeepsOtherKeysets: a keyset edit rewrites that keyset only; the others (one this
// version does not know among them) stay byte for byte.
func TestEditKeepsOtherKeysets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keysets.json")
	openTest(t, dir, true)
	var kf map[string]any
	data, _ := os.ReadFile(file)
	json.Unmarshal(data, &kf)
	kf["keysets"].(map[string]any)["future"] = []byte("opaque")
	data, _ = json.Marshal(kf)
	os.WriteFile(file, data, 0o600)
	before := readSets(t, file)

	if _, err := keys.AddKey(file, rootOf(t, dir), keys.KeysetWrap); err != nil {
		t.Fatal(err)
	}
	after := readSets(t, file)
	for _, name := range []string{"bidx", "future"} {
		if !bytes.Equal(before[name], after[name]) {
			t.Errorf("keyset %s changed by an edit of wrap", name)
		}
	}
	if bytes.Equal(before["wrap"], after["wrap"]) {
		t.Error("wrap keyset unchanged by AddKey")
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("keyset file mode %v; want 0600", st.Mode().Perm())
	}
}

func readSets(t *testing.T, file string) map[string][]byte {
	t.Helper()
	var kf struct{ Keysets map[string][]byte }
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &kf); err != nil {
		t.Fatal(err)
	}
	return kf.Keysets
}
