package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// target is a server setup under test, running in the server namespace.
type target interface {
	start() error
	stop()
	pids() []int // the processes whose memory and CPU count
}

// proc is one server process started with `ip netns exec` (which execs
// into it: the pid is the server's).
type proc struct{ *benchenv.Proc }

func startProc(ns, logFile string, env []string, name string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	bp, err := benchenv.StartProc(cmd, func() { logf.Close() })
	if err != nil {
		logf.Close()
		return nil, err
	}
	return &proc{bp}, nil
}

// stop sends SIGTERM and waits up to 10 s, then kills.
func (p *proc) stop() {
	if p == nil {
		return
	}
	p.Stop(syscall.SIGTERM, 10*time.Second)
}

func (p *proc) exited() bool { return p.Exited() }

// gitbootTarget is `gitboot serve` on the generated repository.
type gitbootTarget struct {
	e   *env
	mu  sync.Mutex
	p   *proc
	all []int // every pid it has had (a restart makes a new one)
}

func (g *gitbootTarget) start() error {
	var env []string
	if *profile != "" {
		env = append(env, "GITBOOT_CPUPROFILE="+*profile)
	}
	if *pprofAddr != "" {
		env = append(env, "GITBOOT_PPROF="+*pprofAddr)
	}
	args := []string{"serve",
		"--repo", filepath.Join(g.e.dir, "repo"), "--state", filepath.Join(g.e.dir, "state"),
		"--var", "image_source=" + filepath.Join(g.e.dir, "image"), "--image-root", g.e.dir, "--poll", "0",
		// The management listener (for /metrics) on the server's address,
		// where the bench reaches it, so with a token.
		"--listen-admin", g.adminAddr(), "--admin-token-file", g.tokenFile()}
	args = append(args, strings.Fields(*serveArgs)...)
	p, err := startProc(g.e.srvNS, filepath.Join(g.e.dir, "serve.log"), env, g.e.bin, args...)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.p = p
	g.all = append(g.all, p.Cmd.Process.Pid)
	first := len(g.all) == 1
	g.mu.Unlock()
	// Ready when the applied inventory is served (the first build of N
	// nodes' artifacts is done).
	if err := waitHTTP(p, g.e.base+"/healthz", 10*time.Minute); err != nil || !first {
		return err
	}
	// At its first start serve builds the tip, starts the services and
	// then evaluates the tip once more in the background (image sources
	// re-examined): wait for that pass, so the storm measures serving,
	// not a start-up evaluation the reference never does. A restart in
	// the middle of a storm is measured as it comes.
	// A serve whose idle passes are skipped (tip and image sources
	// unchanged) may never count the second: wait a bounded while.
	waitEvaluations("http://"+g.adminAddr()+"/metrics", adminToken, 2, 20*time.Second)
	return nil
}

// adminToken is the bearer token of serve's management listener.
const adminToken = "bench-storm-admin-token-0123456789"

// adminAddr is serve's management listener: the boot address, port 9875.
func (e *env) adminAddr() string {
	return strings.TrimSuffix(strings.TrimPrefix(e.base, "http://"), ":9873") + ":9875"
}

func (g *gitbootTarget) adminAddr() string { return g.e.adminAddr() }

// tokenFile writes adminToken where serve (and gitboot status) read it.
func (e *env) tokenFile() string {
	f := filepath.Join(e.dir, "admin-token")
	if err := os.WriteFile(f, []byte(adminToken+"\n"), 0o600); err != nil {
		log.Printf("writing %s: %v", f, err)
	}
	return f
}

func (g *gitbootTarget) tokenFile() string { return g.e.tokenFile() }

// waitEvaluations waits until serve's gitboot_reconcile_total counts n
// passes (any result), or limit passed (then the storm starts anyway).
func waitEvaluations(url, token string, n float64, limit time.Duration) {
	c := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		total := 0.0
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "gitboot_reconcile_total{") {
				continue
			}
			if f := strings.Fields(line); len(f) == 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				total += v
			}
		}
		if total >= n {
			return
		}
	}
	log.Printf("serve's start-up evaluation not seen in /metrics within %v: the storm starts anyway", limit)
}

func (g *gitbootTarget) stop() {
	g.mu.Lock()
	p := g.p
	g.mu.Unlock()
	p.stop()
}

// restart stops serve (SIGTERM, as an operator or systemd does) and starts
// it again on the same state; it returns how long it was unreachable.
func (g *gitbootTarget) restart() (time.Duration, error) {
	t := time.Now()
	g.stop()
	err := g.start()
	return time.Since(t), err
}

func (g *gitbootTarget) pids() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.all...)
}

// waitHTTP polls url (from the client namespace's own address) until it
// answers 200, p exits or limit passes.
func waitHTTP(p *proc, url string, limit time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited before %s answered (see its log)", p.Cmd.Args[3], url)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %v", url, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sampler follows the memory and CPU time of a target's processes (and
// their children: nginx's workers) every 200 ms.
type sampler struct {
	mu      sync.Mutex
	peak    int64           // the largest sum of VmHWM seen
	cpu     map[int]float64 // pid -> last CPU seconds seen
	base    map[int]float64 // pid -> CPU seconds when sampling began
	stopped chan struct{}
	wg      sync.WaitGroup
}

func sample(t target) *sampler {
	s := &sampler{cpu: map[int]float64{}, base: map[int]float64{}, stopped: make(chan struct{})}
	// Only the storm counts: not the start (gitboot's first build).
	for _, pid := range withChildren(t.pids()) {
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // resets VmHWM
		if u, ok := benchenv.ReadProc(pid); ok {
			s.base[pid] = u.CPU
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.once(t)
			select {
			case <-s.stopped:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *sampler) once(t target) {
	var sum int64
	for _, pid := range withChildren(t.pids()) {
		u, ok := benchenv.ReadProc(pid)
		if !ok {
			continue
		}
		sum += u.PeakRSS
		s.mu.Lock()
		s.cpu[pid] = u.CPU
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.peak = max(s.peak, sum)
	s.mu.Unlock()
}

// finish stops sampling and returns the peak RSS (bytes) and the CPU
// seconds used since sampling began.
func (s *sampler) finish(t target) (int64, float64) {
	s.once(t)
	close(s.stopped)
	s.wg.Wait()
	var cpu float64
	for pid, c := range s.cpu {
		cpu += c - s.base[pid]
	}
	return s.peak, cpu
}

// withChildren adds the children of pids (one level: nginx's workers).
func withChildren(pids []int) []int {
	out := append([]int(nil), pids...)
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// statusAtRuntime runs `gitboot status --json` against the server (from the
// server's namespace) and counts the generated nodes at RUNTIME_OVERLAY.
func statusAtRuntime(ctx context.Context, e *env) (int, []string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", e.srvNS, e.bin, "status",
		"--server", "http://"+e.adminAddr(), "--admin-token-file", e.tokenFile(), "--json").Output() // the admin listener
	if err != nil {
		return 0, nil, fmt.Errorf("gitboot status --json: %w", err)
	}
	return countRuntime(out, e.nodes)
}
