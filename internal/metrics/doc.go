// Package metrics is Tillit's Prometheus instrumentation: one registry per App (never the
// global default), every metric defined in this package (metrics.go), counters incremented
// where the events happen (the HTTP server, the consent gate, the outbox, the importer call the
// functions internal/app hands them) and gauges read from the store at scrape time, in one
// read-only transaction (state.go). Handler serves the registry in the Prometheus text
// exposition format.
//
// Invariants:
//   - No label value is personal data or an id: every value comes from a fixed set the code
//     defines (route patterns of the HTTP mux, never the request path, which can hold ids,
//     tokens or e-mail addresses; consent gate reasons; send outcomes and mail streams; import
//     row outcomes; request states). A test scrapes after API activity and looks for the
//     e-mail addresses and ids it used in the whole exposition.
//   - The gauges are computed from the store when scraped, so they are the same on every node
//     of a cluster and right after a restart; the counters are this process's since it started.
//
// It is an adapter (Prometheus is technology): domain packages never import it.
package metrics
