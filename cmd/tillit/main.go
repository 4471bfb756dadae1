// Command tillit is the GDPR-native contact and lead store: see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tillit/tillit/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
