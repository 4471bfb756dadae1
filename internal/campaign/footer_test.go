package campaign

import "testing"

func TestWithFooter(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"<p>Hi</p>", "<p>Hi</p><hr>"},
		{"<html><body><p>Hi</p></body></html>", "<html><body><p>Hi</p><hr></body></html>"},
		{"<HTML><BODY>Hi</BODY></HTML>\n", "<HTML><BODY>Hi<hr></BODY></HTML>\n"},
	} {
		if got := withFooter(tc.body, footerAt(tc.body), "<hr>"); got != tc.want {
			t.Errorf("withFooter(%q) = %q; want %q", tc.body, got, tc.want)
		}
	}
}
