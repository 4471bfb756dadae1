package cli_test

import (
	"testing"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/app/apptest"
)

// beside opens the data directory of a running tillit serve a second time, as another process
// would, with the whole app on it (links it mints start with base), for a step no route offers:
// minting the unsubscribe links a campaign's message would carry. Close it before the server
// must see the directory alone; t.Cleanup closes it otherwise.
func beside(t *testing.T, dir, base string) *app.App {
	t.Helper()
	return apptest.New(t, func(c *app.Config) { c.Settings.DataDir, c.Settings.BaseURL = dir, base })
}
