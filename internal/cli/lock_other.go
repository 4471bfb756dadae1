//go:build !unix

package cli

// lockFile takes no lock where the system has no flock: run one tillit keys rotate at a time.
func lockFile(string) (func(), error) { return func() {}, nil }
