package benchenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Main runs a benchmark that makes namespaces (bench/name): it must run
// as root (else exit 2); run gets a context ended by SIGINT or SIGTERM;
// its error exits 1, its result is printed as the last stdout line, in
// JSON.
func Main(name string, run func(ctx context.Context) (any, error)) {
	if err := RequireRoot(name); err != nil {
		fmt.Fprintf(os.Stderr, "bench/%s: %v\n", name, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/%s: %v\n", name, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
}

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// ModuleRoot is the directory holding go.mod, from the working directory up.
func ModuleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("run from inside the gitboot repository (no go.mod above the working directory)")
		}
		d = p
	}
}

// Version is the first line a command's version option prints ("" when
// it cannot run).
func Version(cmd string, args ...string) string {
	out, _ := exec.Command(cmd, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// Round rounds v to two decimals.
func Round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// Median is v's median, rounded (0 for none).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return Round((s[len(s)/2-1] + s[len(s)/2]) / 2)
}

// MakeBuild is the absolute path of the gitboot binary a benchmark runs:
// bin, or when empty `make build`'s bin/gitboot under the module at root,
// built now (what make build ships: static and stripped; the system
// overlay carries its gitboot-agent to every node).
func MakeBuild(root, bin string) (string, error) {
	if bin == "" {
		if err := Run("make", "-C", root, "--no-print-directory", "build"); err != nil {
			return "", err
		}
		bin = filepath.Join(root, "bin", "gitboot")
	}
	return filepath.Abs(bin)
}
