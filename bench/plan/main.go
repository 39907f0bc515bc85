// Command plan measures `gitboot plan` and `gitboot apply` on a generated
// repository of N nodes (default 10,000): the first apply (full build),
// then a plan with one node changed, an apply of it (one-node rebuild), and
// a plan of a comment-only commit. Each is the real CLI in a subprocess;
// time is wall clock, memory the process's peak RSS (getrusage). The plan
// of a one-node change is the figure (goal < 0.5 s, < 200 MB).
//
//	go build -o bin/gitboot ./cmd/gitboot && go run ./bench/plan -nodes 10000 -runs 5
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

func main() {
	nodes := flag.Int("nodes", 10000, "nodes in the generated repository")
	runs := flag.Int("runs", 5, "runs of each plan (the median is reported)")
	bin := flag.String("bin", "bin/gitboot", "the gitboot binary")
	keep := flag.Bool("keep", false, "keep the generated repository and state directory")
	flag.Parse()
	abs, err := filepath.Abs(*bin)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gitboot-bench-plan")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	repo, image, state := filepath.Join(dir, "repo"), filepath.Join(dir, "image"), filepath.Join(dir, "state")
	must(benchenv.Repo{Nodes: *nodes, Prefix: "10.0"}.Write(repo))
	must(benchenv.WriteImage(image, 1024, 0))
	must(benchenv.Commit(repo, "generated"))

	args := func(cmd ...string) []string {
		return append(cmd, "--repo", repo, "--state", state, "--var", "image_source="+image, "--image-root", dir)
	}
	fmt.Printf("gitboot plan/apply, %d nodes (%s)\n\n", *nodes, repo)
	fmt.Printf("%-34s %10s %12s\n", "step", "seconds", "peak RSS MB")
	report := func(name string, d time.Duration, rss int64) {
		fmt.Printf("%-34s %10.3f %12.1f\n", name, d.Seconds(), float64(rss)/(1<<20))
	}
	d, rss := run(abs, args("apply", "--auto-approve")...)
	report("apply (full build)", d, rss)

	// One node changed.
	nodesFile := filepath.Join(repo, "nodes.hcl")
	data, _ := os.ReadFile(nodesFile)
	must(os.WriteFile(nodesFile, []byte(strings.Replace(string(data), `kernel_args = ["quiet"]`, `kernel_args = ["quiet", "debug"]`, 1)), 0o644))
	must(benchenv.Git(repo, "commit", "-q", "-am", "one node"))
	median(*runs, "plan, one node changed", report, func() (time.Duration, int64) { return run(abs, args("plan")...) })
	d, rss = run(abs, args("apply", "--auto-approve")...)
	report("apply, one node changed", d, rss)

	f, _ := os.OpenFile(nodesFile, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# a comment\n")
	f.Close()
	must(benchenv.Git(repo, "commit", "-q", "-am", "comment"))
	median(*runs, "plan, comment only (No changes.)", report, func() (time.Duration, int64) { return run(abs, args("plan")...) })
	median(*runs, "validate", report, func() (time.Duration, int64) {
		return run(abs, "validate", "--var", "image_source="+image, repo)
	})
}

func median(n int, name string, report func(string, time.Duration, int64), f func() (time.Duration, int64)) {
	var ds []time.Duration
	var peak int64
	for range n {
		d, rss := f()
		ds = append(ds, d)
		peak = max(peak, rss)
	}
	slices.Sort(ds)
	report(fmt.Sprintf("%s (median of %d)", name, n), ds[len(ds)/2], peak)
}

// run runs the binary and returns its wall time and peak RSS in bytes.
func run(bin string, args ...string) (time.Duration, int64) {
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	rss, err := benchenv.RunPeak(cmd)
	d := time.Since(start)
	if err != nil {
		log.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, tail(out.String()))
	}
	return d, rss
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
