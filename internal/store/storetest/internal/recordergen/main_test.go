package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestRecorderIsCurrent fails when storetest's recorder_gen.go is not what store.Tx's method
// set generates now: run go generate ./internal/store/storetest.
func TestRecorderIsCurrent(t *testing.T) {
	want, err := source()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", File))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go generate ./internal/store/storetest", File)
	}
}
