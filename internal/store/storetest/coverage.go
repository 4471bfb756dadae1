package storetest

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tillit/tillit/internal/store"
)

//go:generate go run ./internal/recordergen

// notYet lists the store.Tx methods no case drives yet. The guard fails when a method outside it
// has no case and when a method in it has one, so the list only shrinks.
var notYet = map[string]bool{}

// coverage counts the store.Tx methods called through recorders.
type coverage struct {
	mu     sync.Mutex
	called map[string]int
}

func newCoverage() *coverage { return &coverage{called: map[string]int{}} }

func (c *coverage) note(method string) {
	c.mu.Lock()
	c.called[method]++
	c.mu.Unlock()
}

// txMethods returns the names of store.Tx's methods, sorted.
func txMethods() []string {
	typ := reflect.TypeFor[store.Tx]()
	out := make([]string, typ.NumMethod())
	for i := range out {
		out[i] = typ.Method(i).Name
	}
	return out
}

// check fails t for every method of store.Tx that no case called (unless notYet lists it) and
// for every method notYet lists that a case called.
func (c *coverage) check(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing, covered []string
	methods := txMethods()
	driven := 0
	for _, m := range methods {
		if c.called[m] > 0 {
			driven++
		}
		switch n := c.called[m]; {
		case n == 0 && !notYet[m]:
			missing = append(missing, m)
		case n > 0 && notYet[m]:
			covered = append(covered, m)
		}
	}
	for m := range notYet {
		if !slices.Contains(methods, m) {
			t.Errorf("notYet lists %s, which store.Tx does not have", m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of the %d store.Tx methods are called by no case: %s", len(missing), len(methods), strings.Join(missing, ", "))
	}
	if len(covered) > 0 {
		slices.Sort(covered)
		t.Errorf("notYet lists methods a case now drives; take them off the list: %s", strings.Join(covered, ", "))
	}
	t.Logf("%d of the %d store.Tx methods driven (%d listed as not yet)", driven, len(methods), len(notYet))
}

// recording is a store whose transactions note every store.Tx method called on them.
type recording struct {
	store.Store
	seen *coverage
}

func (r recording) Update(ctx context.Context, fn func(store.Tx) error) error {
	return r.Store.Update(ctx, func(tx store.Tx) error { return fn(recorder{tx, r.seen}) })
}

func (r recording) View(ctx context.Context, fn func(store.Tx) error) error {
	return r.Store.View(ctx, func(tx store.Tx) error { return fn(recorder{tx, r.seen}) })
}
