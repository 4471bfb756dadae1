package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// RenewRootFile replaces the root key file at rootFile with a new random key, in place, and
// re-wraps the keyset file at keysetFile under it (Rewrap: checked before the file is
// replaced); the keysets themselves, and so every data key and field, stay the same. The old
// key is kept beside it as rootFile + ".retired-<UTC time>" (retired, returned): copies of the
// keyset file made before (backups) open only with it.
//
// Steps, each leaving a state a run again finishes (a crash or kill at any point):
//  1. the new key is written to rootFile + ".next" (0600, synced), or the one there is reused;
//  2. the keyset file is re-wrapped under it (atomic replacement);
//  3. rootFile is renamed to the retired name and ".next" to rootFile.
//
// Between 2 and 3 the keyset file opens only with ".next": a process that reloads it then
// fails and keeps the keys it has (Keyring.Refresh), and one that starts fails, until a run
// again finishes step 3. A running server needs no restart: it reads rootFile again at its
// next reload. It must run before anything opens the keyset file with rootFile (the command
// that finishes a renewal cannot open the store first: in that state it would not open).
//
// It starts only where it can finish: neither key opening the keyset file is an error that
// writes nothing (no ".next" that every later error would call an interrupted renewal).
func RenewRootFile(keysetFile, rootFile string, now time.Time) (retired string, err error) {
	next := rootFile + ".next"
	if err := wrapUnderNext(keysetFile, rootFile, next); err != nil {
		return "", err
	}
	retired = rootFile + ".retired-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(rootFile, retired); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("keys: retire the old root key: %w", err)
		}
		// Renamed by the run that was interrupted, at its time: the newest retired key.
		old, _ := filepath.Glob(rootFile + ".retired-*")
		retired = ""
		if len(old) > 0 {
			retired = old[len(old)-1]
		}
	}
	if err := os.Rename(next, rootFile); err != nil {
		return "", fmt.Errorf("keys: put the new root key in place: %w", err)
	}
	if d, err := os.Open(filepath.Dir(rootFile)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return retired, nil
}

// wrapUnderNext does steps 1 and 2 of RenewRootFile unless an interrupted run did: it returns
// at once when next opens keysetFile; else rootFile must open it, and next (made, or the one
// an interrupted step 1 left) is what it is re-wrapped under.
func wrapUnderNext(keysetFile, rootFile, next string) error {
	nextRoot, _, err := OpenRootFile(next, false)
	switch {
	case err == nil:
		if _, err := ReadInfo(keysetFile, nextRoot); err == nil {
			return nil // step 2 is done
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	cur, _, err := OpenRootFile(rootFile, false)
	if err != nil {
		return err
	}
	if _, err := ReadInfo(keysetFile, cur); err != nil {
		return fmt.Errorf("keys: neither the root key %s nor %s opens %s (is it this installation's root key?): %w", rootFile, next, keysetFile, err)
	}
	if nextRoot == nil {
		if nextRoot, _, err = OpenRootFile(next, true); err != nil {
			return err
		}
	}
	return Rewrap(keysetFile, cur, nextRoot)
}
