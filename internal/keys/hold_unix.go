//go:build unix

package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// HoldKeysets takes a shared hold on the keysets file at path for a backup (tillit backup): from
// before its snapshot of the key store until it has read the keysets file it stores beside it.
// A wrap rotation neither disables nor deletes a key while any hold is taken (holdOut), so the
// keysets a backup stores open every data key its key store holds. Holds are flock(2) locks on
// path+".backup", a file of its own (the rotation holds path+".lock" for hours); they are
// released by release, or when the process ends.
func HoldKeysets(ctx context.Context, path string) (release func(), err error) {
	return flockWait(ctx, path+".backup", syscall.LOCK_SH, nil)
}

// holdOut waits until no backup holds the keysets file at path, and keeps new ones from starting
// until release; say hears once that it waits.
func holdOut(ctx context.Context, path string, say func(string, ...any)) (release func(), err error) {
	return flockWait(ctx, path+".backup", syscall.LOCK_EX, func() { say("wrap: waiting for a running tillit backup to finish") })
}

// flockWait takes a flock of kind on the file at path (made, mode 0600, when missing), trying
// every 100 ms until ctx ends; waiting is called once when the first try fails.
func flockWait(ctx context.Context, path string, kind int, waiting func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	for first := true; ; first = false {
		err := syscall.Flock(int(f.Fd()), kind|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("keys: lock %s: %w", path, err)
		}
		if first && waiting != nil {
			waiting()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
