// Package cli holds Tillit's subcommands and is the only package that wires services together
// from configuration (STYLE.md "Shape").
//
// Exit codes (DESIGN §6): 0 success, 1 failure, 2 bad usage.
package cli
