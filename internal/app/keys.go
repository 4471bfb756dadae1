package app

import (
	"context"
	"sync"

	"github.com/tillit/tillit/internal/keys"
	"github.com/tillit/tillit/internal/store"
)

// watchKeys starts, among jobs, the watch of keysets.json (keys.Keyring.Watch): the keyring
// reloads it within keys.RefreshInterval of a change (tillit keys rotate, or a copy from the
// node that rotates), and this process's record in the store says which keys it has loaded,
// so that a rotation takes its next step only once every serving process can follow. The
// record is written before watchKeys returns, so a rotation started after this process
// answers waits for it.
func (a *App) watchKeys(ctx context.Context, jobs *sync.WaitGroup) error {
	node, err := keys.NewNode(a.Keys, a.now())
	if err != nil {
		return err
	}
	nodes := store.KeyNodes(a.Store)
	if err := nodes.Update(ctx, func(tx keys.NodeTx) error { return tx.PutKeyNode(ctx, node) }); err != nil {
		return err
	}
	jobs.Go(func() { a.Keys.Watch(ctx, nodes, node, keys.RefreshInterval, a.now, a.Logger) })
	return nil
}
