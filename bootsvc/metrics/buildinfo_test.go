package metrics

import (
	"runtime"
	"strings"
	"testing"
)

// /metrics says which gitboot runs and carries the Go runtime and process
// metrics every Prometheus exporter has.
func TestBuildInfoAndRuntime(t *testing.T) {
	m := New()
	m.SetBuildInfo("v1.2.3", "abc1234")
	out := scrape(t, m)
	want := `gitboot_build_info{commit="abc1234",goversion="` + runtime.Version() + `",version="v1.2.3"} 1`
	if !strings.Contains(out, want) {
		t.Errorf("no %s in:\n%s", want, out)
	}
	if strings.Count(out, "gitboot_build_info{") != 1 {
		t.Error("more than one gitboot_build_info series after SetBuildInfo")
	}
	for _, name := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds "} {
		if !strings.Contains(out, "\n"+name) {
			t.Errorf("no %s", strings.TrimSpace(name))
		}
	}
}
