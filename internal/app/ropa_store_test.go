package app_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
	"github.com/tillit/tillit/internal/store"
)

// TestROPANamesTheStoresErasure: the record of processing says what the store in use does with
// an erased person's rows (it said "SQLite secure_delete" whatever the store was).
func TestROPANamesTheStoresErasure(t *testing.T) {
	a := apptest.New(t)
	r, err := a.ROPA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := store.ErasureMeasure(a.Store)
	if want == "" || !slices.Contains(r.SecurityMeasures, want) || strings.Contains(want, "SQLite") != strings.Contains(strings.Join(r.SecurityMeasures, "; "), "SQLite") {
		t.Errorf("security measures %q; want the store's own erasure %q and no other store's", r.SecurityMeasures, want)
	}
}
