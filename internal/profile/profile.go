// Package profile profiles a gitboot process for measuring: a CPU
// profile of the whole command ($GITBOOT_CPUPROFILE) and net/http/pprof
// of a running server ($GITBOOT_PPROF).
package profile

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	rpprof "runtime/pprof"
)

// Start writes a CPU profile of the whole command to the file named
// by $GITBOOT_CPUPROFILE, for measuring (bench/plan); a no-op without it.
// $GITBOOT_PPROF=ADDR (e.g. 127.0.0.1:6060) serves net/http/pprof there
// (CPU, heap, goroutines, and mutex and block profiles, which it enables)
// for profiling a running server (bench/storm -pprof); never in production.
func Start() func() {
	if addr := os.Getenv("GITBOOT_PPROF"); addr != "" {
		servePprof(addr)
	}
	path := os.Getenv("GITBOOT_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gitboot: GITBOOT_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "gitboot: GITBOOT_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() { rpprof.StopCPUProfile(); f.Close() }
}

// servePprof serves the profiling endpoints on addr, on a mux of their own
// (nothing of them is on the boot or admin listeners).
func servePprof(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gitboot: GITBOOT_PPROF: %v\n", err)
		return
	}
	runtime.SetMutexProfileFraction(20)
	runtime.SetBlockProfileRate(100_000) // one event per 100 µs blocked
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	fmt.Fprintf(os.Stderr, "gitboot: pprof on http://%s/debug/pprof/\n", ln.Addr())
	go http.Serve(ln, mux) //nolint:errcheck // ends with the process
}
