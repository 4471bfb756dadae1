package dsr_test

import (
	"slices"
	"testing"

	"github.com/tillit/tillit/internal/dsr"
	"github.com/tillit/tillit/internal/ledger"
)

// TestLedgerRequestWords: the ledger, which may not import dsr, names request types, states and
// channels in dsr's words: every type it carries is one dsr knows, its states are a verified
// request's in dsr's order, and its channels are dsr's.
func TestLedgerRequestWords(t *testing.T) {
	for _, typ := range ledger.RequestTypes {
		if !slices.Contains(dsr.Types, dsr.Type(typ)) {
			t.Errorf("ledger request type %q is not a dsr type", typ)
		}
	}
	var states, channels []string
	for _, s := range dsr.States[2:] {
		states = append(states, string(s))
	}
	for _, c := range dsr.Channels {
		channels = append(channels, string(c))
	}
	if !slices.Equal(states, ledger.RequestStates) || !slices.Equal(channels, ledger.RequestChannels) {
		t.Errorf("ledger states %v, channels %v; want dsr's verified states %v and channels %v", ledger.RequestStates, ledger.RequestChannels, states, channels)
	}
}
