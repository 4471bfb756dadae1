package storetest

import (
	"reflect"
	"strings"
	"testing"
)

// TestGuard: the guard reports a method no case called, a method notYet lists that a case
// called, and a name notYet lists that store.Tx does not have; it is silent when every method
// was called.
func TestGuard(t *testing.T) {
	methods := []string{"A", "B", "C"}
	for _, tc := range []struct {
		name   string
		called []string
		notYet map[string]bool
		want   []string // a word each problem must contain, in order
		driven int
	}{
		{"every method called", []string{"A", "B", "C", "A"}, nil, nil, 3},
		{"one never called", []string{"A", "C"}, nil, []string{"called by no case: B"}, 2},
		{"listed as not yet and not called", []string{"A", "C"}, map[string]bool{"B": true}, nil, 2},
		{"listed as not yet but called", []string{"A", "B", "C"}, map[string]bool{"B": true}, []string{"take them off the list: B"}, 3},
		{"listed but no such method", []string{"A", "B", "C"}, map[string]bool{"Z": true}, []string{"does not have: Z"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCoverage()
			for _, m := range tc.called {
				c.note(m)
			}
			got, driven := c.problems(methods, tc.notYet)
			if len(got) != len(tc.want) || driven != tc.driven {
				t.Fatalf("problems = %q, driven %d; want %d problems, driven %d", got, driven, len(tc.want), tc.driven)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q; want it to say %q", i, got[i], w)
				}
			}
		})
	}
}

// TestRecorderNotesEveryMethod calls every method of a recorder (forwarding to no store, so each
// call panics after noting) and checks that each notes exactly its own name once.
func TestRecorderNotesEveryMethod(t *testing.T) {
	c := newCoverage()
	r := reflect.ValueOf(recorder{seen: c})
	for _, name := range txMethods() {
		m := r.MethodByName(name)
		args := make([]reflect.Value, m.Type().NumIn())
		for i := range args {
			args[i] = reflect.Zero(m.Type().In(i))
		}
		func() {
			defer func() { _ = recover() }() // the nil store.Tx it forwards to
			if m.Type().IsVariadic() {
				m.CallSlice(args)
			} else {
				m.Call(args)
			}
		}()
		if n := c.called[name]; n != 1 || len(c.called) != 1 {
			t.Errorf("calling %s noted %v; want %s once", name, c.called, name)
		}
		clear(c.called)
	}
}
