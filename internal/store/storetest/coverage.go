package storetest

import (
	"context"
	"fmt"
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
	problems, driven := c.problems(txMethods(), notYet)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d of the %d store.Tx methods driven (%d listed as not yet)", driven, len(txMethods()), len(notYet))
}

// problems says what is wrong with the calls noted against methods and the methods listed as
// not yet driven, and how many of methods were called.
func (c *coverage) problems(methods []string, notYet map[string]bool) (problems []string, driven int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing, covered, unknown []string
	for _, m := range methods {
		n := c.called[m]
		if n > 0 {
			driven++
		}
		switch {
		case n == 0 && !notYet[m]:
			missing = append(missing, m)
		case n > 0 && notYet[m]:
			covered = append(covered, m)
		}
	}
	for m := range notYet {
		if !slices.Contains(methods, m) {
			unknown = append(unknown, m)
		}
	}
	slices.Sort(unknown)
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d of the %d store.Tx methods are called by no case: %s", len(missing), len(methods), strings.Join(missing, ", ")))
	}
	if len(covered) > 0 {
		problems = append(problems, "notYet lists methods a case now drives; take them off the list: "+strings.Join(covered, ", "))
	}
	if len(unknown) > 0 {
		problems = append(problems, "notYet lists methods store.Tx does not have: "+strings.Join(unknown, ", "))
	}
	return problems, driven
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
