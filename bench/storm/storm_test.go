package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestStormSmoke runs the real storm with 50 nodes over 2 s against gitboot
// serve (restarted half-way) and the reference, so the tool does not rot:
// every node must boot on both, `gitboot status` must list all 50 at
// RUNTIME_OVERLAY after the restart, and every stage must have latencies.
func TestStormSmoke(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "git", "dnsmasq", "nginx")
	dir := t.TempDir()
	gitboot, err := benchenv.Build("../..", dir)
	if err != nil {
		t.Fatal(err)
	}
	storm := filepath.Join(dir, "storm")
	if out, err := exec.Command("go", "build", "-o", storm, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, storm, "-nodes", "50", "-spread", "2s", "-agent-interval", "1s", "-restart", "-bin", gitboot)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("storm: %v\nstdout:\n%s\nstderr:\n%s", err, out, benchenv.Tail(stderr.Bytes(), 4000))
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var sum summary
	if err := json.Unmarshal(lines[len(lines)-1], &sum); err != nil {
		t.Fatalf("the last line is not the JSON summary: %v\n%s", err, out)
	}
	if sum.Nodes != 50 || sum.Failures != 0 || sum.StatusAtRuntime != 50 {
		t.Errorf("gitboot: nodes %d, failures %d, at RUNTIME_OVERLAY in status %d (missing %v); want 50, 0, 50\n%s",
			sum.Nodes, sum.Failures, sum.StatusAtRuntime, sum.StatusMissing, out)
	}
	if sum.RestartAtS != 1 {
		t.Errorf("restart_at_s = %v, want 1 (half of -spread)", sum.RestartAtS)
	}
	if sum.Reference == nil || sum.Reference.Failures != 0 || sum.Reference.Nodes != 50 {
		t.Fatalf("reference: %+v\n%s", sum.Reference, out)
	}
	for _, ts := range []*targetSummary{&sum.targetSummary, sum.Reference} {
		for _, st := range stageNames[:stAgent] {
			if _, ok := ts.P99ms[st]; !ok {
				t.Errorf("%s: no p99 for stage %s: %v", ts.Target, st, ts.P99ms)
			}
		}
		if ts.SecondsToAllRuntime <= 0 || ts.ServerPeakRSS <= 0 {
			t.Errorf("%s: seconds_to_all_runtime %v, server_peak_rss_bytes %d", ts.Target, ts.SecondsToAllRuntime, ts.ServerPeakRSS)
		}
	}
}

// TestScriptURLs: the URLs of a gitboot script, in order, by stage.
func TestScriptURLs(t *testing.T) {
	script := []byte("#!ipxe\n:kernel\nkernel --name kernel http://10.64.0.1:9873/kernel/02:00:00:00:00:01/ab initrd=image quiet || goto kernel_failed\n" +
		"initrd --name image http://10.64.0.1:9873/image/02:00:00:00:00:01/cd || goto x\n" +
		"initrd --name system http://10.64.0.1:9873/system/02:00:00:00:00:01/ef\n" +
		"initrd --name runtime http://10.64.0.1:9873/runtime-initrd/02:00:00:00:00:01/01\nboot\n")
	urls, err := scriptURLs(script)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{stKernel, stImage, stSystem, stRuntime}
	if len(urls) != len(want) {
		t.Fatalf("urls = %v", urls)
	}
	for i, u := range urls {
		if stageOfURL(u) != want[i] {
			t.Errorf("%s: stage %d, want %d", u, stageOfURL(u), want[i])
		}
	}
	if _, err := scriptURLs([]byte("#!ipxe\necho no\n")); err == nil {
		t.Error("a script without kernel or initrd: no error")
	}
}
