//go:build !unix

package keys

import "context"

// HoldKeysets is a no-op where flock(2) is missing: run backups and rotations apart there.
func HoldKeysets(context.Context, string) (func(), error) { return func() {}, nil }

func holdOut(context.Context, string, func(string, ...any)) (func(), error) { return func() {}, nil }
