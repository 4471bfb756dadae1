package keys_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/keys"
)

// TestRenewRootFile: the root key file is replaced in place, the keysets stay the same (a data
// key wrapped before opens after), the old key is kept under its retired name and opens only a
// copy of keysets.json made before, and a run interrupted after any of its steps finishes when
// run again.
func TestRenewRootFile(t *testing.T) {
	for _, stop := range []string{"none", "after-next", "after-rewrap", "after-retire"} {
		t.Run(stop, func(t *testing.T) {
			dir := t.TempDir()
			rootFile, file := filepath.Join(dir, "root.key"), filepath.Join(dir, "keysets.json")
			kr := openTest(t, dir, true)
			_, wrapped, _ := kr.NewDataKey("c1", 1)
			backup, _ := os.ReadFile(file)
			oldKey, _ := os.ReadFile(rootFile)
			now := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)

			// An interrupted run, as a kill leaves it.
			next := rootFile + ".next"
			switch stop {
			case "after-next", "after-rewrap", "after-retire":
				nr, _, err := keys.OpenRootFile(next, true)
				if err != nil {
					t.Fatal(err)
				}
				if stop == "after-next" {
					break
				}
				if err := keys.Rewrap(file, rootOf(t, dir), nr); err != nil {
					t.Fatal(err)
				}
				if stop == "after-retire" {
					os.Rename(rootFile, rootFile+".retired-20260504T000000Z")
				}
			}
			retired, err := keys.RenewRootFile(file, rootFile, now)
			if err != nil {
				t.Fatal(err)
			}
			want := rootFile + ".retired-20260504T030201Z"
			if stop == "after-retire" {
				want = rootFile + ".retired-20260504T000000Z"
			}
			if retired != want {
				t.Errorf("retired = %s; want %s", retired, want)
			}
			if b, _ := os.ReadFile(retired); string(b) != string(oldKey) {
				t.Error("the retired file does not hold the old root key")
			}
			newKey, _ := os.ReadFile(rootFile)
			if st, err := os.Stat(rootFile); err != nil || st.Mode().Perm() != 0o600 || string(newKey) == string(oldKey) {
				t.Fatalf("root key file after: %v, %v; want a new key, 0600", st, err)
			}
			if _, err := os.Stat(next); !os.IsNotExist(err) {
				t.Errorf("%s left behind: %v", next, err)
			}
			if _, err := openTest(t, dir, false).OpenDataKey("c1", 1, wrapped); err != nil {
				t.Fatalf("a data key wrapped before does not open: %v", err)
			}
			// The backup of keysets.json opens with the retired key only.
			os.WriteFile(filepath.Join(dir, "backup.json"), backup, 0o600)
			if _, _, err := keys.Open(keys.Config{RootKeyFile: rootFile, KeysetFile: filepath.Join(dir, "backup.json")}); err == nil {
				t.Error("the new root key opens a copy of keysets.json made before")
			}
			if _, _, err := keys.Open(keys.Config{RootKeyFile: retired, KeysetFile: filepath.Join(dir, "backup.json")}); err != nil {
				t.Errorf("the retired root key does not open the copy made before: %v", err)
			}
		})
	}
}

// TestReloadInTheMiddleOfARenewal: a running process that reloads keysets.json after a renewal
// re-wrapped it and before the new key took the root key file's name reads it with the new key
// beside the old; a start in that moment is refused, saying how to finish the renewal.
func TestReloadInTheMiddleOfARenewal(t *testing.T) {
	dir := t.TempDir()
	rootFile, file := filepath.Join(dir, "root.key"), filepath.Join(dir, "keysets.json")
	server := openTest(t, dir, true)
	nr, _, err := keys.OpenRootFile(rootFile+".next", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Rewrap(file, rootOf(t, dir), nr); err != nil {
		t.Fatal(err)
	}
	if changed, err := server.Refresh(); !changed || err != nil {
		t.Fatalf("Refresh mid-renewal = %v, %v; want the file read with the new key", changed, err)
	}
	_, _, err = keys.Open(keys.Config{RootKeyFile: rootFile, KeysetFile: file})
	if err == nil || !strings.Contains(err.Error(), "keys rotate --root") {
		t.Fatalf("Open mid-renewal = %v; want a refusal that says how to finish", err)
	}
}
