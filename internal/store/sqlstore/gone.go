package sqlstore

import (
	"encoding/json"

	"github.com/tillit/tillit/internal/store"
)

// MaxGonePayload bounds GonePayload, below PostgreSQL's limit on a notification's payload
// (8,000 bytes): about 190 ids.
const MaxGonePayload = 7000

// GonePayload is the payload of Dialect.Notify for a transaction that made g gone: "" when it
// made none, else g as JSON, or {"all":true} when the ids would not fit in MaxGonePayload.
// Ids are typed ids, never personal data.
func GonePayload(g store.Gone) string {
	if g.Empty() {
		return ""
	}
	b, err := json.Marshal(g)
	if err != nil || len(b) > MaxGonePayload {
		return `{"all":true}`
	}
	return string(b)
}

// ParseGonePayload reads a payload of GonePayload: "" is nothing gone; a payload it cannot read
// is All, so that no owner is missed.
func ParseGonePayload(p string) store.Gone {
	if p == "" {
		return store.Gone{}
	}
	var g store.Gone
	if err := json.Unmarshal([]byte(p), &g); err != nil {
		return store.Gone{All: true}
	}
	return g
}
