// Command push measures the GitOps loop of `gitboot serve`: the time from
// `git push` returning until the pushed change is served. It makes a bare
// repository of examples/lab (with a tiny image: busybox and a stand-in
// kernel), runs the real `gitboot serve --poll 0` on it inside a network
// namespace of its own (so only the watch on the refs notices pushes, and
// DHCP never runs on the host's interfaces), and pushes -pushes commits of
// each kind:
//
//   - kernel: n1's kernel arguments get a new value (gitboot.bench=N), so
//     its iPXE script changes; done when GET /ipxe/{n1} shows the value.
//   - overlay: a line is appended to overlays/generic/etc/motd.tmpl, nothing in
//     HCL; done when the runtime overlay's digest in GET /ipxe/{n1} changes.
//
// The script is polled every 5 ms over a keep-alive connection from inside
// the namespace. It prints min/median/p90/max per kind and, as its last
// stdout line, a JSON summary. As root:
//
//	make build && go run ./bench/push -pushes 20
//
// The namespace (gbpush-PID) and the temporary directory are removed at
// exit, also after a failure or Ctrl-C. The measuring half runs as a child
// of this program inside the namespace (`ip netns exec NS push -inner`).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

const (
	n1MAC     = "52:54:00:99:00:01"
	serverURL = "http://127.0.0.1:9873"
	// In examples/lab/nodes.hcl: the line after which n1's kernel_args go.
	n1Anchor = `tags     = { slot = "1" }`
)

var (
	pushes  = flag.Int("pushes", 20, "pushes of each kind (kernel argument, overlay-only)")
	bin     = flag.String("bin", "bin/gitboot", "the gitboot binary (built with go build when missing)")
	timeout = flag.Duration("timeout", 30*time.Second, "give up when a push is not served within this")
	keep    = flag.Bool("keep", false, "keep the temporary directory (repositories, state, serve.log)")
	inner   = flag.String("inner", "", "internal: the temporary directory; run the measuring half (inside the namespace)")
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench/push: ")
	flag.Parse()
	if *inner != "" {
		os.Exit(measure(*inner))
	}
	os.Exit(outer())
}

// outer prepares the repositories and the image, makes the namespace, runs
// the measuring half inside it and cleans up whatever happens.
func outer() int {
	if os.Geteuid() != 0 {
		log.Print("must run as root (it makes a network namespace): sudo go run ./bench/push")
		return 1
	}
	for _, c := range []string{"ip", "git"} {
		if _, err := exec.LookPath(c); err != nil {
			log.Printf("%s is needed: %v", c, err)
			return 1
		}
	}
	dir, done, err := benchenv.TempDir("gitboot-bench-push", *keep)
	if err != nil {
		log.Print(err)
		return 1
	}
	defer done()
	gitboot, err := filepath.Abs(*bin)
	if err == nil {
		_, err = os.Stat(gitboot)
		if errors.Is(err, os.ErrNotExist) {
			gitboot = filepath.Join(dir, "gitboot")
			log.Printf("%s is missing: go build -o %s ./cmd/gitboot (and gitboot-agent beside it)", *bin, gitboot)
			err = run("", "go", "build", "-o", gitboot, "./cmd/gitboot")
			if err == nil {
				err = run("", "go", "build", "-o", filepath.Join(dir, "gitboot-agent"), "./cmd/gitboot-agent")
			}
		}
	}
	if err == nil {
		err = prepare(dir)
	}
	if err != nil {
		log.Print(err)
		return 1
	}

	ns := fmt.Sprintf("gbpush-%d", os.Getpid())
	if err := run("", "ip", "netns", "add", ns); err != nil {
		log.Print(err)
		return 1
	}
	defer benchenv.DeleteNS(ns)
	if err := run("", "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
		log.Print(err)
		return 1
	}

	self, err := os.Executable()
	if err != nil {
		log.Print(err)
		return 1
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-inner", dir, "-bin", gitboot,
		"-pushes", fmt.Sprint(*pushes), "-timeout", timeout.String())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	// Should this process be killed, the child still stops serve.
	return benchenv.RunChild(cmd)
}

// prepare writes DIR/image (tiny), DIR/work (examples/lab, committed) and
// DIR/cluster.git (bare, the work tree's origin, pushed to).
func prepare(dir string) error {
	image := filepath.Join(dir, "image")
	for _, d := range []string{"boot", "bin", "sbin", "etc"} {
		if err := os.MkdirAll(filepath.Join(image, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(image, "boot", "vmlinuz-6.1.0-99-amd64"), []byte("not a real kernel: bench stand-in\n"), 0o644); err != nil {
		return err
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is needed for the image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(image, "bin", "busybox"), bb, 0o755); err != nil {
		return err
	}
	if err := os.Symlink("../bin/busybox", filepath.Join(image, "sbin", "init")); err != nil {
		return err
	}
	work, bare := filepath.Join(dir, "work"), filepath.Join(dir, "cluster.git")
	if err := os.CopyFS(work, os.DirFS("examples/lab")); err != nil {
		return fmt.Errorf("copying examples/lab (run from the repository root): %w", err)
	}
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", bare},
		{"-C", work, "init", "-q", "-b", "main"},
		{"-C", work, "add", "-A"},
		{"-C", work, "commit", "-q", "-m", "lab cluster"},
		{"-C", work, "remote", "add", "origin", bare},
		{"-C", work, "push", "-q", "origin", "main"},
	} {
		if err := run("", "git", args...); err != nil {
			return err
		}
	}
	return nil
}

func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.org",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

var runtimeURL = regexp.MustCompile(`/runtime(?:-initrd)?/[0-9a-fA-F:%-]+/([0-9a-f]{64})`)

// measure is the half inside the namespace: serve, push, poll.
func measure(dir string) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		log.Print(err)
		return 1
	}
	defer logf.Close()
	serve := exec.Command(*bin, "serve", "--repo", filepath.Join(dir, "cluster.git"), "--state", filepath.Join(dir, "state"),
		"--var", "image_source="+filepath.Join(dir, "image"), "--image-root", dir, "--poll", "0")
	serve.Stdout, serve.Stderr = logf, logf
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := serve.Start(); err != nil {
		log.Print(err)
		return 1
	}
	exited := make(chan struct{})
	go func() { serve.Wait(); close(exited) }()
	defer func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			serve.Process.Kill()
			<-exited
		}
		if code != 0 && ctx.Err() == nil {
			if data, err := os.ReadFile(filepath.Join(dir, "serve.log")); err == nil {
				fmt.Fprintf(os.Stderr, "--- serve.log (last 3000 bytes) ---\n%s\n", tail(data, 3000))
			}
		}
		if ctx.Err() != nil {
			log.Print("interrupted; cleaning up")
			code = 130
		}
	}()

	p := &poller{ctx: ctx, exited: exited, client: &http.Client{Timeout: 2 * time.Second}}
	if _, err := p.wait("the first commit served", 120*time.Second, func() bool {
		return runtimeURL.MatchString(p.get("/ipxe/" + n1MAC))
	}); err != nil {
		log.Print(err)
		return 1
	}
	results, err := pushAll(p, filepath.Join(dir, "work"))
	if err != nil {
		log.Print(err)
		return 1
	}
	report(results)
	return 0
}

// poller asks the server under test, until it exits (exited closes) or
// ctx is done.
type poller struct {
	ctx    context.Context
	exited <-chan struct{}
	client *http.Client
}

// get returns the body of GET path, or "" when it failed or was not 200.
func (p *poller) get(path string) string {
	resp, err := p.client.Get(serverURL + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

// wait polls cond every 5 ms; it returns the time it took, or an error
// when serve exited, the deadline passed or a signal came.
func (p *poller) wait(what string, limit time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			return 0, fmt.Errorf("%s: not within %v", what, limit)
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s: gitboot serve exited", what)
		case <-p.ctx.Done():
			return 0, p.ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return time.Since(start), nil
}

// kinds are the changes pushed, in order.
var kinds = []string{"kernel", "overlay"}

// sample is one push: how long git push took, then how long until the
// change was served.
type sample struct{ push, served time.Duration }

// pushAll pushes -pushes changes of each kind from the work tree work and
// times each until it is served.
func pushAll(p *poller, work string) (map[string][]sample, error) {
	nodesFile := filepath.Join(work, "nodes.hcl")
	nodesOrig, err := os.ReadFile(nodesFile)
	if err != nil || !strings.Contains(string(nodesOrig), n1Anchor) {
		return nil, fmt.Errorf("examples/lab/nodes.hcl lacks %q (%v)", n1Anchor, err)
	}
	ed := &editor{nodesFile: nodesFile, nodesOrig: string(nodesOrig), motd: filepath.Join(work, "overlays", "generic", "etc", "motd.tmpl")}
	results := map[string][]sample{}
	for _, kind := range kinds {
		for i := 1; i <= *pushes; i++ {
			before := p.get("/ipxe/" + n1MAC)
			m := runtimeURL.FindStringSubmatch(before)
			if m == nil {
				return nil, fmt.Errorf("no runtime overlay URL in the script:\n%s", before)
			}
			done, err := ed.change(kind, i, m[1])
			if err == nil {
				err = run(work, "git", "commit", "-q", "-am", fmt.Sprintf("bench %s %d", kind, i))
			}
			if err != nil {
				return nil, err
			}
			t0 := time.Now()
			if err := run(work, "git", "push", "-q", "origin", "main"); err != nil {
				return nil, err
			}
			pushTook := time.Since(t0)
			took, err := p.wait(fmt.Sprintf("%s push %d served", kind, i), *timeout, func() bool { return done(p.get("/ipxe/" + n1MAC)) })
			if err != nil {
				return nil, err
			}
			results[kind] = append(results[kind], sample{pushTook, took})
			fmt.Printf("%-8s push %2d: git push %6.3f s, then served after %6.3f s\n", kind, i, pushTook.Seconds(), took.Seconds())
		}
	}
	return results, nil
}

// editor makes the pushed changes in the work tree.
type editor struct {
	nodesFile, nodesOrig string // nodes.hcl and its text as committed first
	motd                 string // the overlay template appended to
}

// change makes push i of kind in the work tree (the runtime overlay's
// digest being oldRuntime) and returns the test of an iPXE script that
// says the change is served.
func (ed *editor) change(kind string, i int, oldRuntime string) (done func(script string) bool, err error) {
	switch kind {
	case "kernel":
		arg := fmt.Sprintf("gitboot.bench=%d", i)
		err = os.WriteFile(ed.nodesFile, []byte(strings.Replace(ed.nodesOrig, n1Anchor,
			n1Anchor+"\n  kernel_args = [\"console=ttyS0\", \"quiet\", \""+arg+"\"]", 1)), 0o644)
		done = func(s string) bool { return strings.Contains(s, arg+" ") || strings.Contains(s, arg+"\n") }
	case "overlay":
		var f *os.File
		if f, err = os.OpenFile(ed.motd, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, err = fmt.Fprintf(f, "bench push %d\n", i)
			f.Close()
		}
		done = func(s string) bool {
			m := runtimeURL.FindStringSubmatch(s)
			return m != nil && m[1] != oldRuntime
		}
	}
	return done, err
}

// stats are one kind's times, in seconds.
type stats struct {
	N          int     `json:"n"`
	Min        float64 `json:"min_s"`
	Median     float64 `json:"median_s"`
	P90        float64 `json:"p90_s"`
	Max        float64 `json:"max_s"`
	PushMedian float64 `json:"git_push_median_s"`
	// From git push starting: the ref may move, and the server act,
	// before git push returns.
	TotalMedian float64 `json:"from_push_start_median_s"`
}

// report prints the table of each kind's times and, as the last line, the
// JSON summary.
func report(results map[string][]sample) {
	summary := struct {
		Pushes   int              `json:"pushes"`
		Measured string           `json:"measured"`
		Goal     float64          `json:"goal_median_s"`
		Load     string           `json:"loadavg_at_end"`
		Kinds    map[string]stats `json:"results"`
	}{Pushes: *pushes, Measured: "git push returned -> GET /ipxe/{mac} shows the change (polled every 5 ms)", Goal: 0.5, Kinds: map[string]stats{}}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		summary.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	fmt.Printf("\nseconds from git push returning until GET /ipxe/{mac} shows the change; then the medians\nof git push itself and of git push starting -> served\n")
	fmt.Printf("%-8s %7s %7s %7s %7s %9s %11s\n", "change", "min", "median", "p90", "max", "git push", "from start")
	for _, kind := range kinds {
		var served, push, total []float64
		for _, s := range results[kind] {
			served = append(served, s.served.Seconds())
			push = append(push, s.push.Seconds())
			total = append(total, (s.push + s.served).Seconds())
		}
		slices.Sort(served)
		slices.Sort(push)
		slices.Sort(total)
		st := stats{N: len(served), Min: ms(served[0]), Median: ms(quantile(served, 0.5)), P90: ms(quantile(served, 0.9)),
			Max: ms(served[len(served)-1]), PushMedian: ms(quantile(push, 0.5)), TotalMedian: ms(quantile(total, 0.5))}
		summary.Kinds[kind] = st
		fmt.Printf("%-8s %7.3f %7.3f %7.3f %7.3f %9.3f %11.3f\n", kind, st.Min, st.Median, st.P90, st.Max, st.PushMedian, st.TotalMedian)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.Encode(summary)
}

// ms rounds seconds to the millisecond.
func ms(s float64) float64 { return math.Round(s*1000) / 1000 }

// quantile of sorted xs, nearest rank.
func quantile(xs []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
