package store

import (
	"context"

	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/importer"
	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/ledger"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/optin"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/throttle"
	"github.com/tillit/tillit/internal/token"
)

// Scoped is a Store seen by one domain: its transactions are that domain's Tx interface T. It
// satisfies the domain package's own Store interface (Update, View, Purge over T).
type Scoped[T any] struct {
	s      Store
	narrow func(Tx) T
}

// Update runs fn in one read-write transaction of the store.
func (b Scoped[T]) Update(ctx context.Context, fn func(T) error) error {
	return b.s.Update(ctx, func(tx Tx) error { return fn(b.narrow(tx)) })
}

// View runs fn in one read-only transaction of the store.
func (b Scoped[T]) View(ctx context.Context, fn func(T) error) error {
	return b.s.View(ctx, func(tx Tx) error { return fn(b.narrow(tx)) })
}

// Purge forwards to Store.Purge.
func (b Scoped[T]) Purge(ctx context.Context) error { return b.s.Purge(ctx) }

// The narrowing functions: each is checked by the compiler (Tx embeds the domain's interface),
// so no domain is matched to a transaction at run time.

func Contacts(s Store) Scoped[contact.Tx] {
	return Scoped[contact.Tx]{s, func(tx Tx) contact.Tx { return tx }}
}
func Consent(s Store) Scoped[consent.Tx] {
	return Scoped[consent.Tx]{s, func(tx Tx) consent.Tx { return tx }}
}
func Policies(s Store) Scoped[consent.PolicyTx] {
	return Scoped[consent.PolicyTx]{s, func(tx Tx) consent.PolicyTx { return tx }}
}
func Tokens(s Store) Scoped[token.Tx] { return Scoped[token.Tx]{s, func(tx Tx) token.Tx { return tx }} }
func Importer(s Store) Scoped[importer.Tx] {
	return Scoped[importer.Tx]{s, func(tx Tx) importer.Tx { return tx }}
}
func Mail(s Store) Scoped[mail.Tx] { return Scoped[mail.Tx]{s, func(tx Tx) mail.Tx { return tx }} }
func Reports(s Store) Scoped[mail.ReportTx] {
	return Scoped[mail.ReportTx]{s, func(tx Tx) mail.ReportTx { return tx }}
}
func Optin(s Store) Scoped[optin.Tx] { return Scoped[optin.Tx]{s, func(tx Tx) optin.Tx { return tx }} }
func Unsubscribes(s Store) Scoped[optin.UnsubscribeTx] {
	return Scoped[optin.UnsubscribeTx]{s, func(tx Tx) optin.UnsubscribeTx { return tx }}
}
func Campaigns(s Store) Scoped[campaign.Tx] {
	return Scoped[campaign.Tx]{s, func(tx Tx) campaign.Tx { return tx }}
}
func Requests(s Store) Scoped[dsr.Tx] { return Scoped[dsr.Tx]{s, func(tx Tx) dsr.Tx { return tx }} }
func Share(s Store) Scoped[share.Tx]  { return Scoped[share.Tx]{s, func(tx Tx) share.Tx { return tx }} }
func Webhooks(s Store) Scoped[share.WebhookTx] {
	return Scoped[share.WebhookTx]{s, func(tx Tx) share.WebhookTx { return tx }}
}
func Retention(s Store) Scoped[governance.RetentionTx] {
	return Scoped[governance.RetentionTx]{s, func(tx Tx) governance.RetentionTx { return tx }}
}
func DPAs(s Store) Scoped[governance.DPATx] {
	return Scoped[governance.DPATx]{s, func(tx Tx) governance.DPATx { return tx }}
}
func Breaches(s Store) Scoped[governance.BreachTx] {
	return Scoped[governance.BreachTx]{s, func(tx Tx) governance.BreachTx { return tx }}
}
func Ledger(s Store) Scoped[ledger.Tx] {
	return Scoped[ledger.Tx]{s, func(tx Tx) ledger.Tx { return tx }}
}
func Throttle(s Store) Scoped[throttle.Tx] {
	return Scoped[throttle.Tx]{s, func(tx Tx) throttle.Tx { return tx }}
}

// Keys narrows s to key rotation (keys.RotateTx).
func Keys(s Store) Scoped[keys.RotateTx] {
	return Scoped[keys.RotateTx]{s, func(tx Tx) keys.RotateTx { return tx }}
}

// KeyNodes narrows s to the records of the serving processes' keys (keys.NodeTx).
func KeyNodes(s Store) Scoped[keys.NodeTx] {
	return Scoped[keys.NodeTx]{s, func(tx Tx) keys.NodeTx { return tx }}
}
