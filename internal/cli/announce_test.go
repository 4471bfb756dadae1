package cli

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/tillit/tillit/internal/config"
)

// TestAnnounceNamesTheRootKeyFile: the first start's note names the root key file where it is,
// not the data directory: the container image keeps it on /keys, apart from the data volume,
// and a note that said "in /data" told the operator to back up the wrong place.
func TestAnnounceNamesTheRootKeyFile(t *testing.T) {
	var stderr bytes.Buffer
	cfg := config.Config{DataDir: "/data", RootKeyFile: "/keys/root.key"}
	announce(Env{Stderr: &stderr}, cfg, slog.New(slog.DiscardHandler), true)
	want := "Tillit created new keysets in /data, wrapped by the root key file /keys/root.key; back up /keys/root.key apart from the data: without it the data is lost.\n"
	if got := stderr.String(); got != want {
		t.Errorf("announce wrote %q; want %q", got, want)
	}
}
