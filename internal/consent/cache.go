package consent

import (
	"context"
	"sync"
)

// GateCache keeps the facts and purposes the gate last read, so repeated checks need no database
// round trip. It holds entries of one store generation only: the store's generation moves on
// every commit of this process at once and on commits of other processes within its polling
// interval (see the store's Generation), and an entry of an older generation can never be served
// again, so the first put of a newer generation drops every older entry. A busy writer (a
// campaign recording its sends every few milliseconds) thus keeps the cache small instead of
// filling it with dead entries (about 500 bytes each: 0.5 GB at 1 M contacts). Safe for
// concurrent use; bounded by MaxEntries (the whole cache is dropped when full).
type GateCache struct {
	MaxEntries int // default 1,000,000

	mu       sync.RWMutex
	gen      uint64 // the generation every entry was read at
	facts    map[factsKey]Facts
	purposes map[string]Purpose
}

type factsKey struct{ contactID, purpose string }

func (c *GateCache) get(gen uint64, contactID, purpose string) (Purpose, Facts, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if gen != c.gen {
		return Purpose{}, Facts{}, false
	}
	p, ok := c.purposes[purpose]
	if !ok {
		return Purpose{}, Facts{}, false
	}
	f, ok := c.facts[factsKey{contactID, purpose}]
	return p, f, ok
}

// put keeps facts read at generation gen; facts of a generation older than the cache's are
// dropped (they are stale already).
func (c *GateCache) put(gen uint64, contactID string, p Purpose, f Facts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen < c.gen {
		return
	}
	limit := c.MaxEntries
	if limit <= 0 {
		limit = 1_000_000
	}
	if gen > c.gen || c.facts == nil || len(c.facts) >= limit {
		c.facts = make(map[factsKey]Facts)
		c.purposes = make(map[string]Purpose)
		c.gen = gen
	}
	c.purposes[p.ID] = p
	c.facts[factsKey{contactID, p.ID}] = f
}

// Generation reports the store's generation: a number that changes whenever anything the gate
// reads may have changed.
type Generation interface {
	Generation(ctx context.Context) (uint64, error)
}
