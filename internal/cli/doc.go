// Package cli holds Tillit's subcommands. Each turns flags into a config.Config, opens the data
// directory's keys and store (openStore) and builds the application with app.New, then runs its
// command on the App's services; it wires no service itself (STYLE.md "Shape"). tillit serve
// takes its mail transport from app.Transport and warns of what an SMTP setup lacks.
//
// Exit codes (DESIGN §6): 0 success, 1 failure, 2 bad usage.
//
// Its tests are the whole-program smoke set, which runs the commands as a user would: start,
// first token, shutdown, listen and root-key checks, exit codes, the import, token, audit
// verify, retention, ledger export/replay, backup and restore, migrate-store and bench commands, and the crash tests that kill
// the process. Scenarios of one surface or domain are tested beside their code on
// apptest.Serve, so that a failure names the package whose rule broke.
package cli
