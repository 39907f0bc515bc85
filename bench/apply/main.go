// Command apply measures the memory of applying commits of a large
// for_each repository the way `gitboot serve` does: one process, the
// reconciler's ReconcileOnce (load, plan, build, publish, record, GC) per
// commit, the published snapshot held like the boot services hold it.
//
//	go run ./bench/apply -nodes 100000 -commits 2
//
// The repository (generated in a temporary directory) declares -nodes
// nodes with one for_each over a file of MACs; each node has a templated
// runtime overlay and the builtin hostname overlay, so every node has an
// overlay of its own. Commit 1 is applied into an empty state directory
// (everything built); each later commit changes the template, so every
// node's runtime overlay is built again. For each commit it prints the
// wall time, the process's peak RSS during the apply (VmHWM, reset before
// each commit through /proc/self/clear_refs), the RSS right after it and
// the live Go heap after a collection. The last stdout line is a JSON
// summary. -memprofile P writes P-N.heap after commit N (go tool pprof
// -sample_index=alloc_space shows where the apply allocated).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

type step struct {
	Commit       int     `json:"commit"`
	Result       string  `json:"result"`
	Seconds      float64 `json:"seconds"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	RSSAfter     int64   `json:"rss_after_bytes"`
	HeapLive     uint64  `json:"heap_live_bytes"`
}

func main() {
	nodes := flag.Int("nodes", 100_000, "nodes in the generated repository")
	commits := flag.Int("commits", 2, "commits to apply one after the other")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	memprofile := flag.String("memprofile", "", "write heap profiles PREFIX-N.heap after commit N and PREFIX-N-peak.heap at the largest live heap during it")
	flag.Parse()
	dir, err := os.MkdirTemp("", "gitboot-bench-apply")
	if err != nil {
		log.Fatal(err)
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	repo, image, state, agent := filepath.Join(dir, "repo"), filepath.Join(dir, "image"), filepath.Join(dir, "state"), filepath.Join(dir, "agent")
	must(writeRepo(repo, *nodes))
	must(benchenv.WriteImage(image, 1024, 0))
	// A stand-in agent: its bytes go into the (shared) system overlay.
	must(os.WriteFile(agent, []byte("#!/bin/sh\n"), 0o755))
	must(benchenv.Commit(repo, "generated"))

	src, err := gitsrc.Open(repo)
	must(err)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	builder, err := artifact.New(artifact.Config{StateDir: state, Logger: discard, Agent: agent})
	must(err)
	var served atomic.Pointer[bootsvc.Snapshot] // what the boot services would hold
	rec := reconcile.New(reconcile.Config{
		Source: src, Builder: builder, StateDir: state, Logger: discard,
		Vars:    map[string]string{"image_source": image},
		Publish: func(s *bootsvc.Snapshot) error { served.Store(s); return nil },
	})

	fmt.Printf("gitboot apply in one process, %d nodes (for_each), %d commits\n\n", *nodes, *commits)
	fmt.Printf("%-7s %-9s %9s %14s %14s %14s\n", "commit", "result", "seconds", "peak RSS MB", "RSS after MB", "heap live MB")
	var steps []step
	for i := 1; i <= *commits; i++ {
		if i > 1 {
			tmpl := filepath.Join(repo, "overlays", "generic", "etc", "motd.tmpl")
			f, err := os.OpenFile(tmpl, os.O_APPEND|os.O_WRONLY, 0)
			must(err)
			fmt.Fprintf(f, "commit %d\n", i)
			f.Close()
			must(benchenv.Git(repo, "commit", "-q", "-am", fmt.Sprintf("commit %d", i)))
		}
		resetPeak()
		stopWatch := func() {}
		if *memprofile != "" {
			stopWatch = watchPeak(fmt.Sprintf("%s-%d-peak.heap", *memprofile, i))
		}
		start := time.Now()
		ev, err := rec.ReconcileOnce(context.Background(), reconcile.Options{})
		d := time.Since(start)
		stopWatch()
		if err != nil {
			log.Fatalf("commit %d: %v", i, err)
		}
		peak, rss := procStatus("VmHWM"), procStatus("VmRSS")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := step{Commit: i, Result: ev.Result, Seconds: d.Seconds(), PeakRSSBytes: peak, RSSAfter: rss, HeapLive: ms.HeapAlloc}
		steps = append(steps, s)
		fmt.Printf("%-7d %-9s %9.2f %14.1f %14.1f %14.1f\n", i, s.Result, s.Seconds, mb(s.PeakRSSBytes), mb(s.RSSAfter), mb(int64(s.HeapLive)))
		if *memprofile != "" {
			f, err := os.Create(fmt.Sprintf("%s-%d.heap", *memprofile, i))
			must(err)
			must(pprof.WriteHeapProfile(f))
			f.Close()
		}
	}
	if served.Load() == nil {
		log.Fatal("nothing was published")
	}
	out, _ := json.Marshal(map[string]any{"nodes": *nodes, "steps": steps})
	fmt.Println(string(out))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// watchPeak writes a heap profile to path each time the live heap after a
// collection is the largest seen so far (checked every 10 ms): the profile
// shows what was live at the apply's largest point. The returned func
// stops it.
func watchPeak(path string) func() {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak {
				peak = v
				f, err := os.Create(path)
				must(err)
				must(pprof.WriteHeapProfile(f))
				f.Close()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// resetPeak resets the process's peak RSS (VmHWM) to its current RSS.
func resetPeak() {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		log.Fatalf("resetting the peak RSS: %v", err)
	}
}

// procStatus returns a "NAME: N kB" field of /proc/self/status in bytes.
func procStatus(name string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	must(err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			must(err)
			return n << 10
		}
	}
	log.Fatalf("no %s in /proc/self/status", name)
	return 0
}

func writeRepo(dir string, n int) error {
	var macs strings.Builder
	for i := range n {
		fmt.Fprintf(&macs, "02:00:00:%02x:%02x:%02x\n", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
	}
	files := benchenv.Base("10.0.0.0/8")
	files["cluster.hcl"] += `
profile "compute" {
  image            = image.compute
  network          = network.cluster
  kernel_args      = ["console=ttyS0"]
  runtime_overlays = [overlay.generic, overlay.hostname]
}

node "rack" {
  for_each = { for i, mac in compact(split("\n", file("nodes.macs"))) :
               format("n%06d", i + 1) => { mac = mac, ip = cidrhost("10.0.0.0/8", 256 + i) } }
  mac      = each.value.mac
  ip       = each.value.ip
  profiles = [profile.compute]
}
`
	files["nodes.macs"] = macs.String()
	return benchenv.WriteFiles(dir, files)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
