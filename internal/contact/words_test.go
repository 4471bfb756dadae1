package contact

import (
	"slices"
	"testing"
)

// TestFieldWords: every sealed column has words, and a record is described by the fields it
// holds, name first, first and last name as one.
func TestFieldWords(t *testing.T) {
	for _, col := range Columns {
		if !slices.ContainsFunc(fieldWords, func(f struct {
			word string
			cols []string
		}) bool {
			return slices.Contains(f.cols, col)
		}) {
			t.Errorf("column %s has no words for the erasure receipt", col)
		}
	}
	r := &Record{Sealed: map[string][]byte{"email": {1}, "last_name": {1}, "notes": {1}, "phone": nil}}
	if got, want := r.FieldWords(), []string{"name", "e-mail address", "notes about you"}; !slices.Equal(got, want) {
		t.Errorf("FieldWords = %q; want %q", got, want)
	}
	if got := (&Record{}).FieldWords(); got != nil {
		t.Errorf("FieldWords of an empty record = %q; want none", got)
	}
}
