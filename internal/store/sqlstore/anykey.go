package sqlstore

import (
	"bytes"
	"strings"
)

// inList returns "(?, …)" with n placeholders (at least one: NULL-free callers pass n >= 1; n = 0
// gives "(NULL)", which matches nothing). The lookups by keyed hash take an address's hash under
// each key of the blind-index keyset (keys.Keyring.BlindIndexes): one to a few values.
func inList(n int) string {
	if n == 0 {
		return "(NULL)"
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// firstOf returns the element of found whose key is the earliest in want (the zero T when none):
// a lookup under every key of the blind-index keyset answers with the primary key's match first.
func firstOf[T any](want [][]byte, found []T, key func(T) []byte) T {
	for _, w := range want {
		for _, f := range found {
			if bytes.Equal(key(f), w) {
				return f
			}
		}
	}
	var zero T
	return zero
}
