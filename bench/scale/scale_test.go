package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// TestScaleSmoke runs bench/scale on a 20-node repository so the tool does
// not rot: every step must run and be in the JSON summary.
func TestScaleSmoke(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	dir := t.TempDir()
	gitboot, err := benchenv.Build("../..", dir)
	if err != nil {
		t.Fatal(err)
	}
	scale := filepath.Join(dir, "scale")
	if out, err := exec.Command("go", "build", "-o", scale, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(scale, "-sizes", "20", "-bin", gitboot).CombinedOutput()
	if err != nil {
		t.Fatalf("scale: %v\n%s", err, out)
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var sum struct {
		Steps []step `json:"steps"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &sum); err != nil {
		t.Fatalf("the last line is not the JSON summary: %v\n%s", err, out)
	}
	want := []string{"validate", "apply, full build", "plan, one node changed", "apply, one node changed", "plan, comment only", "10 idle polls (CPU s)", "notes write (every node's status)"}
	if len(sum.Steps) != len(want) {
		t.Fatalf("steps = %+v, want %v", sum.Steps, want)
	}
	for i, s := range sum.Steps {
		// Ten idle polls may round to 0.000 s: idle costs nothing.
		idle := s.Step == "10 idle polls (CPU s)"
		if s.Step != want[i] || s.Nodes != 20 || s.Seconds < 0 || (s.Seconds == 0 && !idle) || s.PeakRSS <= 0 {
			t.Errorf("step %d = %+v, want %q at 20 nodes with a time and an RSS", i, s, want[i])
		}
	}
}
