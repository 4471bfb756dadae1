package app

import (
	"context"

	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/ledger"
)

// hooks wires the contact service's hooks, once: with them contact.Service.Erase is the whole
// erasure wherever it is called from (the API, DSR completion from the API or console, retention
// sweeps, ledger replay), and an address change reaches the person's requests and consent.
func (a *App) hooks() {
	// In the erasure's transaction: close the person's open requests and forget their notices.
	a.Contacts.Erasing = a.Requests.ErasingIn
	// After it commits: no .eml file keeps the person's address.
	a.Contacts.AfterErase = func(ctx context.Context, id string) error { return a.files.RemoveContact(id) }
	// A staff change of address is told to the replaced address, so it does not go unnoticed.
	a.Contacts.AddressChanged = a.Requests.AddressChangedIn
	// Consent confirmed by double opt-in at the old address is confirmed again at the new one.
	a.Contacts.EmailChanged = a.Optin.ReconfirmIn
}

// Erase erases a contact (GDPR Art. 17): its rows and data key go, its addresses stay only as
// suppression hashes and in the erasure ledger, its data subject requests are closed and
// forgotten in the same transaction, its mail files are removed and the store's files purged.
// It is contact.Service.Erase with the hooks New set; NotFound for an unknown id.
func (a *App) Erase(ctx context.Context, contactID string) error {
	return a.Contacts.Erase(ctx, contactID)
}

// Export returns the contact's access bundle (GDPR Art. 15, 20): a zip of JSON, CSV and vCard
// files with a manifest, read in one audited transaction (dsr.Service.Export). NotFound for an
// unknown id.
func (a *App) Export(ctx context.Context, contactID string) ([]byte, error) {
	return a.Requests.Export(ctx, contactID)
}

// ledgerRequests gives the ledger (a domain package, which does not import dsr) the request
// service's ReplayRequest in its own words.
type ledgerRequests struct{ *dsr.Service }

func (l ledgerRequests) ReplayRequest(ctx context.Context, r ledger.Request) (bool, error) {
	return l.Service.ReplayRequest(ctx, dsrRequest(r))
}

func (l ledgerRequests) ReplayUnboundRequest(ctx context.Context, r ledger.Request) (bool, error) {
	return l.Service.ReplayUnboundRequest(ctx, dsrRequest(r))
}

// dsrRequest is a ledger request line in the request service's words.
func dsrRequest(r ledger.Request) dsr.Request {
	req := dsr.Request{ID: r.ID, Type: dsr.Type(r.Type), State: dsr.State(r.State), ContactID: r.ContactID, Channel: dsr.Channel(r.Channel),
		ReceivedAt: r.ReceivedAt, DueAt: r.DueAt}
	if !r.ExtendedUntil.IsZero() {
		req.ExtendedUntil = &r.ExtendedUntil
	}
	if !r.ClosedAt.IsZero() {
		req.CompletedAt = &r.ClosedAt
	}
	return req
}
