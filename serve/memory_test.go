package serve

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestReleaseMemoryGCPercent: once serving, the collector keeps
// ServingGCPercent, unless GOGC is set in the environment.
func TestReleaseMemoryGCPercent(t *testing.T) {
	old, had := os.LookupEnv("GOGC")
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() {
		debug.SetGCPercent(prev)
		if had {
			os.Setenv("GOGC", old)
		} else {
			os.Unsetenv("GOGC")
		}
	})
	os.Unsetenv("GOGC")
	releaseMemory()
	if got := debug.SetGCPercent(100); got != ServingGCPercent {
		t.Fatalf("GC percent after releaseMemory: %d, want %d", got, ServingGCPercent)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	releaseMemory()
	if got := debug.SetGCPercent(100); got != 200 {
		t.Fatalf("GC percent with GOGC=200 in the environment: %d, want it left alone", got)
	}
}
