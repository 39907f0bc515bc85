package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// idlePolls is the number of idle polls the "idle polls" step measures.
const idlePolls = 10

// idleChild runs in a child process: a reconciler as serve runs it
// (restored from state, one start pass), then idlePolls recheck passes
// with nothing changed; it prints the CPU time (user + system, getrusage)
// the polls took, in seconds.
func idleChild(repo, state, image, agent string) error {
	src, err := gitsrc.Open(repo)
	if err != nil {
		return err
	}
	b, err := artifact.New(artifact.Config{StateDir: state, Agent: agent})
	if err != nil {
		return err
	}
	rec := reconcile.New(reconcile.Config{Source: src, Vars: map[string]string{"image_source": image},
		Builder: b, StateDir: state, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := rec.Restore(); err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := rec.ReconcileOnce(ctx, reconcile.Options{Recheck: true}); err != nil {
		return fmt.Errorf("start pass: %w", err)
	}
	start := cpuTime()
	for i := 0; i < idlePolls; i++ {
		ev, err := rec.ReconcileOnce(ctx, reconcile.Options{Recheck: true})
		if err != nil || ev.Result != reconcile.ResultUnchanged {
			return fmt.Errorf("idle poll %d: %s %v", i, ev.Result, err)
		}
	}
	fmt.Printf("cpu_seconds=%.6f\n", (cpuTime() - start).Seconds())
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runIdle runs idleChild in a child process and returns the CPU time of
// its polls and the child's peak RSS.
func runIdle(self, gitboot, repo, state, image string) (time.Duration, int64, error) {
	cmd := exec.Command(self, "-idle-child", repo, "-idle-state", state, "-idle-image", image,
		"-idle-agent", filepath.Join(filepath.Dir(gitboot), "gitboot-agent"))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	rss, err := benchenv.RunPeak(cmd)
	out := buf.Bytes()
	if err != nil {
		return 0, 0, fmt.Errorf("idle polls: %v\n%s", err, out)
	}
	_, v, ok := strings.Cut(strings.TrimSpace(string(out)), "cpu_seconds=")
	secs, perr := strconv.ParseFloat(v, 64)
	if !ok || perr != nil {
		return 0, 0, fmt.Errorf("idle polls printed %q", out)
	}
	return time.Duration(secs * float64(time.Second)), rss, nil
}
