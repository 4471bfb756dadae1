package postgres

import (
	"strings"
	"testing"
)

// TestURLParameterGivenTwiceIsRefused (PostgreSQL trial): ?schema=a&schema=b opened schema a
// (url.Values.Get takes the first) and pgx, too, reads only the first of a repeated setting
// (sslmode=disable&sslmode=require connects without TLS). A parameter given twice is refused,
// naming it; so are parameters that do not parse.
func TestURLParameterGivenTwiceIsRefused(t *testing.T) {
	for _, c := range []struct{ url, param string }{
		{"postgres://u@h/db?schema=a&schema=b", "schema"},
		{"postgres://u@h/db?schema=a&sslmode=disable&schema=a", "schema"},
		{"postgres://u@h/db?sslmode=disable&schema=a&sslmode=require", "sslmode"},
	} {
		_, _, _, err := ParseURL(c.url)
		if err == nil || !strings.Contains(err.Error(), `"`+c.param+`"`) || !strings.Contains(err.Error(), "more than once") {
			t.Errorf("ParseURL(%q): %v; want refused, naming %q as given more than once", c.url, err, c.param)
		}
	}
	// url.URL.Query drops a pair that does not parse: the store would be schema tillit's.
	if _, data, _, err := ParseURL("postgres://u@h/db?schema=%zz"); err == nil {
		t.Errorf("ParseURL with schema=%%zz: schema %q; want refused (the parameters do not parse)", data)
	}
	if _, data, _, err := ParseURL("postgres://u@h/db?sslmode=disable&schema=a"); err != nil || data != "a" {
		t.Errorf("ParseURL with each parameter once: %q, %v; want schema a", data, err)
	}
}
