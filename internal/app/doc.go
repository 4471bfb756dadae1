// Package app is Tillit's composition root: New builds every service once and completely on an
// open store and keyring, and App owns the workflows that span domains.
//
// What it owns:
//
//   - Wiring. Every service (contacts, consent, policies, tokens, importer, outbox, double
//     opt-in, unsubscribe, campaigns, data subject requests, sharing, webhooks, retention, DPAs,
//     breaches, mail reports, the ledger replayer) and the HTTP surface (API, portal, console)
//     is built by New and by nothing else. No exported function field of a service is left nil:
//     New sets every hook, and fails naming what is missing from its Config.
//   - Erasure (GDPR Art. 17), the one path. contact.Service.Erase is the entry point every
//     caller uses (API DELETE, console and API completion of an erasure request, retention
//     sweeps, ledger replay, App.Erase); New sets its hooks once, so every erasure deletes the
//     person's rows and key, closes and forgets their data subject requests in the same
//     transaction (dsr.Service.ErasingIn), removes their mail files and purges the store's files.
//     On a cluster store every process removes its own mail files of whoever any process erased
//     or forgot (Start: removeGoneFiles).
//   - Export (Art. 15, 20): the access bundle (App.Export).
//   - Notices (Art. 12(1), 13, 14): the controller and DPO footer of transactional mail
//     (NoticeFooter), the recipients named by the privacy notice (App.Recipients) and the
//     postal address of marketing mail.
//   - The record of processing activities (Art. 30): App.ROPA.
//   - Background work: Start runs the crash-recovery and expiry sweeps once, then the campaign
//     walker, webhook deliveries, the outbox and the hourly sweeps until stopped.
//
// Invariants: an App holds one store and one keyring, which Close closes; every service shares
// one clock (Config.Now) and one id source (Config.NewID); nothing here decides a domain rule.
package app
