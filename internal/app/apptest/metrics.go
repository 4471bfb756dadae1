package apptest

import (
	"io"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Exposition is one scrape of GET /metrics: the text as served and its samples.
type Exposition struct {
	Text    string
	samples []sample
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// Scrape gets url (a metrics listener's /metrics) and parses the Prometheus text exposition;
// a status other than 200 or a line that does not parse fails the test.
func Scrape(t testing.TB, url string) Exposition {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, %v:\n%s", url, resp.StatusCode, err, b)
	}
	e := Exposition{Text: string(b)}
	for _, line := range strings.Split(e.Text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("scrape %s: line %q does not parse", url, line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("scrape %s: line %q: %v", url, line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(p[2])
		}
		e.samples = append(e.samples, s)
	}
	return e
}

// Value returns the sample of the series name with exactly these labels (name, value pairs),
// and whether the exposition holds it.
func (e Exposition) Value(name string, labels ...string) (float64, bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, s := range e.samples {
		if s.name == name && maps.Equal(s.labels, want) {
			return s.value, true
		}
	}
	return 0, false
}

// LabelValues returns every label value of every sample, for checks that no personal data is
// among them.
func (e Exposition) LabelValues() []string {
	var out []string
	for _, s := range e.samples {
		for _, v := range s.labels {
			out = append(out, v)
		}
	}
	return out
}
