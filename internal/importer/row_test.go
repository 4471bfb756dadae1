package importer

import (
	"reflect"
	"testing"
)

func TestSplitTags(t *testing.T) {
	tests := []struct {
		in, seps string
		want     []string
	}{
		{`"Editors","Lorem Editors"`, ",", []string{"Editors", "Lorem Editors"}},
		{`"Lorem Editors"`, ",", []string{"Lorem Editors"}},
		{`Editors`, ",", []string{"Editors"}},
		{``, ",", nil},
		{` , ,"" `, ",", nil},
		{` "Dolor" , Simet `, ",", []string{"Dolor", "Simet"}},
		{`"A, B",C`, ",", []string{"A, B", "C"}},
		{`"Say ""hi"""`, ",", []string{`Say "hi"`}},
		{`A,A, A ,"A"`, ",", []string{"A"}},
		{`"open, tag`, ",", []string{"open, tag"}},
		{`a;b`, ",", []string{"a;b"}},
		{`a; b,c;;"d;e"`, ",;", []string{"a", "b", "c", "d;e"}},
		{"\u00a0Kunde\u00a0", ",", []string{"Kunde"}},
	}
	for _, tt := range tests {
		if got := splitTags(tt.in, tt.seps); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitTags(%q, %q) = %q, want %q", tt.in, tt.seps, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{" Dolor ", "Dolor"},
		{"\u00a0Lorem Co.\u00a0", "Lorem Co."},
		{"\ufeff\u200b a b \t\n", "a b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeaderKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"E-Mail", "e mail"},
		{" email_ADDRESS ", "email address"},
		{"Zip  Code", "zip code"},
	}
	for _, tt := range tests {
		if got := headerKey(tt.in); got != tt.want {
			t.Errorf("headerKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
