package benchenv

import (
	"os/exec"
	"testing"
)

// TestRunPeak: a child that touches 64 MiB peaks at 64 MiB or more, and
// one that touches nothing is not charged with this test process's own
// memory (rusage's ru_maxrss would charge it: see RunPeak).
func TestRunPeak(t *testing.T) {
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	small, err := RunPeak(exec.Command("sleep", "0.2"))
	if err != nil {
		t.Fatal(err)
	}
	big, err := RunPeak(exec.Command("sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' 'x' > /dev/null; x=$(head -c 67108864 /dev/zero | tr '\\0' y); sleep 0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if small <= 0 || small > 64<<20 {
		t.Errorf("sleep peaked at %d MB, want a few MB (not this process's %d MB)", small>>20, len(ballast)>>20)
	}
	if big < 64<<20 {
		t.Errorf("a shell holding 64 MiB in a variable peaked at %d MB", big>>20)
	}
	_ = ballast[len(ballast)-1]
}
