package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRackFilesUpToDate checks that the committed rack files are exactly
// what the generator writes.
func TestRackFilesUpToDate(t *testing.T) {
	for r := 1; r <= racks; r++ {
		name := filepath.Join("..", "racks", fmt.Sprintf("rack%02d.macs", r))
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != rackFile(r) {
			t.Errorf("%s differs from the generator's output; run go run ./examples/site1000/gen -out examples/site1000/racks", name)
		}
	}
	files, _ := filepath.Glob(filepath.Join("..", "racks", "*"))
	if len(files) != racks {
		t.Errorf("%d files in racks/, want %d", len(files), racks)
	}
}
