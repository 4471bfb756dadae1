// Package cli holds Tillit's subcommands. Each turns flags into a config.Config, opens the data
// directory's keys and store (openStore) and builds the application with app.New, then runs its
// command on the App's services; it wires no service itself (STYLE.md "Shape"). It also chooses
// the mail transport of tillit serve (SMTP or files, DKIM) from the settings.
//
// Exit codes (DESIGN §6): 0 success, 1 failure, 2 bad usage.
package cli
