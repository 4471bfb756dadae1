package keys_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/keys"
)

// TestDiskKeysNewInstallation: a new installation's keysets hold a disk keyset from the first
// start, whose one key is stable across opens.
func TestDiskKeysNewInstallation(t *testing.T) {
	dir := t.TempDir()
	ks := openTest(t, dir, true).DiskKeys()
	if len(ks) != 1 || len(ks[0].Key) != keys.DiskKeySize {
		t.Fatalf("disk keys of a new installation: %d keys; want one of %d bytes", len(ks), keys.DiskKeySize)
	}
	again := openTest(t, dir, false).DiskKeys()
	if len(again) != 1 || again[0].ID != ks[0].ID || !bytes.Equal(again[0].Key, ks[0].Key) {
		t.Fatal("the disk key differs after reopening")
	}
}

// TestDiskKeysOldInstallation: a keyset file from before the disk keyset opens (no disk keys);
// NewDiskKey adds one and keeps every other keyset byte for byte; a rotation adds a new primary
// beside the old key, and DropDiskKeys leaves only it.
func TestDiskKeysOldInstallation(t *testing.T) {
	dir := t.TempDir()
	cfg := keys.Config{RootKeyFile: filepath.Join(dir, "root.key"), KeysetFile: filepath.Join(dir, "keysets.json")}
	openTest(t, dir, true)
	// Remove the disk keyset: the file as an installation from before it wrote it.
	var kf struct {
		Format  int               `json:"format"`
		Keysets map[string][]byte `json:"keysets"`
	}
	b, _ := os.ReadFile(cfg.KeysetFile)
	if err := json.Unmarshal(b, &kf); err != nil {
		t.Fatal(err)
	}
	delete(kf.Keysets, "disk")
	old, _ := json.Marshal(kf)
	if err := os.WriteFile(cfg.KeysetFile, old, 0o600); err != nil {
		t.Fatal(err)
	}
	kr := openTest(t, dir, false)
	if n := len(kr.DiskKeys()); n != 0 {
		t.Fatalf("an old keyset file gave %d disk keys; want none", n)
	}
	bidx, _ := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com")

	first, err := keys.NewDiskKey(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	kr = openTest(t, dir, false)
	if ks := kr.DiskKeys(); len(ks) != 1 || ks[0].ID != first.ID || !bytes.Equal(ks[0].Key, first.Key) {
		t.Fatalf("after NewDiskKey: %d keys; want the one made", len(ks))
	}
	if again, _ := kr.BlindIndex(keys.IndexEmail, 1, "a@example.com"); !bytes.Equal(again, bidx) {
		t.Error("the blind-index keyset changed with the disk keyset")
	}
	var after struct{ Keysets map[string][]byte }
	b, _ = os.ReadFile(cfg.KeysetFile)
	json.Unmarshal(b, &after)
	for name, blob := range kf.Keysets {
		if !bytes.Equal(after.Keysets[name], blob) {
			t.Errorf("keyset %q was rewritten", name)
		}
	}
	if st, _ := os.Stat(cfg.KeysetFile); st.Mode().Perm() != 0o600 {
		t.Errorf("keyset file mode %v; want 0600", st.Mode().Perm())
	}
	if same, err := keys.NewDiskKey(cfg, false); err != nil || same.ID != first.ID {
		t.Errorf("NewDiskKey(fresh=false) with a disk keyset: %v, key %d; want the primary %d", err, same.ID, first.ID)
	}

	second, err := keys.NewDiskKey(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	ks := openTest(t, dir, false).DiskKeys()
	if len(ks) != 2 || ks[0].ID != second.ID || ks[1].ID != first.ID || bytes.Equal(first.Key, second.Key) {
		t.Fatalf("after a rotation: %+v; want the new key first, then the old", ids(ks))
	}
	if err := keys.DropDiskKeys(cfg, first.ID); err == nil {
		t.Error("DropDiskKeys kept a key that is not the primary")
	}
	if err := keys.DropDiskKeys(cfg, second.ID); err != nil {
		t.Fatal(err)
	}
	if ks := openTest(t, dir, false).DiskKeys(); len(ks) != 1 || ks[0].ID != second.ID || !bytes.Equal(ks[0].Key, second.Key) {
		t.Fatalf("after dropping the old key: %v; want only %d", ids(ks), second.ID)
	}
}

func ids(ks []keys.DiskKey) []uint32 {
	var out []uint32
	for _, k := range ks {
		out = append(out, k.ID)
	}
	return out
}
