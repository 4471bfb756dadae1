package consent

import (
	"context"
	"sync"
)

// GateCache keeps the facts and purposes the gate last read, so repeated checks need no database
// round trip. Every entry carries the store generation it was read at; an entry of an older
// generation is read again. The store's generation moves on every commit of this process at once
// and on commits of other processes within its polling interval (see the store's Generation).
// Safe for concurrent use; bounded by MaxEntries (the whole cache is dropped when full).
type GateCache struct {
	MaxEntries int // default 1,000,000

	mu       sync.RWMutex
	facts    map[factsKey]cachedFacts
	purposes map[string]cachedPurpose
}

type factsKey struct{ contactID, purpose string }

type cachedFacts struct {
	gen   uint64
	facts Facts
}

type cachedPurpose struct {
	gen uint64
	p   Purpose
}

func (c *GateCache) get(gen uint64, contactID, purpose string) (Purpose, Facts, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.purposes[purpose]
	if !ok || p.gen != gen {
		return Purpose{}, Facts{}, false
	}
	f, ok := c.facts[factsKey{contactID, purpose}]
	if !ok || f.gen != gen {
		return Purpose{}, Facts{}, false
	}
	return p.p, f.facts, true
}

func (c *GateCache) put(gen uint64, contactID string, p Purpose, f Facts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.MaxEntries
	if limit <= 0 {
		limit = 1_000_000
	}
	if c.facts == nil || len(c.facts) >= limit {
		c.facts = make(map[factsKey]cachedFacts)
	}
	if c.purposes == nil {
		c.purposes = make(map[string]cachedPurpose)
	}
	c.purposes[p.ID] = cachedPurpose{gen: gen, p: p}
	c.facts[factsKey{contactID, p.ID}] = cachedFacts{gen: gen, facts: f}
}

// Generation reports the store's generation: a number that changes whenever anything the gate
// reads may have changed.
type Generation interface {
	Generation(ctx context.Context) (uint64, error)
}
