package consent

import "testing"

// TestGateCacheOneGeneration: the cache holds the entries of the newest generation only; an entry
// read at an older generation is neither served nor kept.
func TestGateCacheOneGeneration(t *testing.T) {
	var c GateCache
	p := Purpose{ID: "newsletter", LawfulBasis: BasisConsent}
	c.put(1, "a", p, Facts{Restricted: true})
	c.put(1, "b", p, Facts{})
	if _, f, ok := c.get(1, "a", "newsletter"); !ok || !f.Restricted {
		t.Fatalf("get(1, a) = %+v, %v; want the restricted facts", f, ok)
	}
	c.put(2, "c", p, Facts{Suppressed: true})
	if len(c.facts) != 1 {
		t.Errorf("%d entries after a newer generation; want 1 (older ones dropped)", len(c.facts))
	}
	if _, _, ok := c.get(1, "a", "newsletter"); ok {
		t.Error("an entry of generation 1 served after generation 2")
	}
	if _, _, ok := c.get(2, "a", "newsletter"); ok {
		t.Error("an entry read at generation 1 served at generation 2")
	}
	c.put(1, "d", p, Facts{}) // a slow reader of an older generation
	if _, _, ok := c.get(1, "d", "newsletter"); ok || len(c.facts) != 1 {
		t.Errorf("a put of an older generation was kept (%d entries)", len(c.facts))
	}
	if _, f, ok := c.get(2, "c", "newsletter"); !ok || !f.Suppressed {
		t.Errorf("get(2, c) = %+v, %v; want the suppressed facts", f, ok)
	}
	c.MaxEntries = 2
	c.put(2, "e", p, Facts{})
	c.put(2, "f", p, Facts{})
	if len(c.facts) != 1 {
		t.Errorf("%d entries after reaching MaxEntries 2; want the cache dropped and 1 entry", len(c.facts))
	}
}
