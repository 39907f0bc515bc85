package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// registerRuntime adds gitboot_build_info and the Go runtime (go_*) and
// process (process_*) collectors to m's registry.
func (m *Metrics) registerRuntime() {
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gitboot_build_info",
		Help: "Always 1; its labels say which gitboot runs: version, commit and the Go version it was built with.",
	}, []string{"version", "commit", "goversion"})
	m.reg.MustRegister(m.buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version, commit := "dev", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	m.SetBuildInfo(version, commit)
}

// SetBuildInfo sets gitboot_build_info's version and commit labels (the
// binary's -X main.version and main.commit); New sets them from the Go
// build information until then.
func (m *Metrics) SetBuildInfo(version, commit string) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, commit, runtime.Version()).Set(1)
}
