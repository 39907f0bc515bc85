// Package benchenv is what the Go benchmarks under bench/ share: a
// generated cluster repository of N nodes, a small test image, git and ip
// commands, network namespaces, and a process's CPU time and memory; and
// for the QEMU benchmarks (bench/boot, bench/debian) a lab of namespaces
// a VM boots in, its timestamped serial console and a tcpdump capture on
// its tap. Imported by the benchmarks under bench/ only; not part of
// gitboot.
package benchenv

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Repo describes a generated cluster repository.
type Repo struct {
	// Nodes is how many node blocks nodes.hcl gets.
	Nodes int
	// Prefix is the first two octets of the /16 the nodes live in
	// ("10.64"); the server is Prefix.0.1, node i is at NodeIP(i).
	Prefix string
	// Interface, when set, is the server block's DHCP interface.
	Interface string
	// ServerExtra is HCL added inside the server block (e.g.
	// `secure_runtime = false`).
	ServerExtra string
	// System and Runtime are the profile's overlay lists (HCL); default
	// "[overlay.hostname]" (a per-node system overlay, as bench/plan has
	// always measured) and "[overlay.generic]".
	System, Runtime string
}

// MAC is node i's MAC address (locally administered, 02:00:00:...).
func MAC(i int) string {
	return fmt.Sprintf("02:00:00:%02x:%02x:%02x", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

// NodeName is node i's name.
func NodeName(i int) string { return fmt.Sprintf("n%05d", i) }

// NodeIP is node i's address in prefix: prefix.(1+(i+10)/250).(1+(i+10)%250),
// so the first /24 holds only the server's addresses for the first nodes
// and a /16 holds 62,000 nodes.
func NodeIP(prefix string, i int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("%s.%d.%d", prefix, 1+(i+10)/250, 1+(i+10)%250))
}

// ServerIP is the server's address in prefix.
func ServerIP(prefix string) netip.Addr { return netip.MustParseAddr(prefix + ".0.1") }

// Write writes the repository's files into dir (not committed; see Commit).
// The image's source is the variable image_source.
func (r Repo) Write(dir string) error {
	if r.Prefix == "" {
		r.Prefix = "10.0"
	}
	var srv strings.Builder
	fmt.Fprintf(&srv, "  address = %q\n", ServerIP(r.Prefix))
	if r.Interface != "" {
		fmt.Fprintf(&srv, "  interface = %q\n", r.Interface)
	}
	srv.WriteString(r.ServerExtra)
	system, runtime := r.System, r.Runtime
	if system == "" {
		system = "[overlay.hostname]"
	}
	if runtime == "" {
		runtime = "[overlay.generic]"
	}
	files := map[string]string{
		"cluster.hcl": `variable "image_source" {
  type = string
}

server "head" {
` + srv.String() + `}

network "cluster" {
  subnet  = "` + r.Prefix + `.0.0/16"
  gateway = "` + ServerIP(r.Prefix).String() + `"
  domain  = "cluster.local"
}

image "compute" {
  source = var.image_source
}

overlay "generic" {
  source = "overlays/generic"
}

overlay "hosts" {
  builtin = "hosts"
}

overlay "hostname" {
  builtin = "hostname"
}

profile "compute" {
  image            = image.compute
  network          = network.cluster
  kernel_args      = ["console=ttyS0"]
  system_overlays  = ` + system + `
  runtime_overlays = ` + runtime + `
}
`,
		"overlays/generic/etc/motd.tmpl": "Welcome to {{ .Node.Name }} ({{ .Node.IP }})\n",
		"overlays/generic/etc/issue":     "gitboot bench\n",
	}
	var b strings.Builder
	for i := range r.Nodes {
		fmt.Fprintf(&b, "node %q {\n  mac         = %q\n  ip          = %q\n  kernel_args = [\"quiet\"]\n  profiles    = [profile.compute]\n}\n\n",
			NodeName(i), MAC(i), NodeIP(r.Prefix, i))
	}
	files["nodes.hcl"] = b.String()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteImage writes a small test image into dir: a stand-in kernel of
// kernelBytes and a data file of dataBytes (both incompressible, from a
// fixed seed, so runs compare), an /sbin/init script.
func WriteImage(dir string, kernelBytes, dataBytes int) error {
	for _, d := range []string{"boot", "sbin", "etc", "usr/share"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-6.1.0-1-amd64"), noise(kernelBytes, 1), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "usr", "share", "data"), noise(dataBytes, 2), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sbin", "init"), []byte("#!/bin/sh\n"), 0o755)
}

// noise returns n pseudo-random bytes (xorshift from seed).
func noise(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// Git runs git in dir with a fixed identity and no global configuration.
func Git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.org",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Commit makes dir a git repository (branch main) and commits everything.
func Commit(dir, msg string) error {
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", msg}} {
		if err := Git(dir, args...); err != nil {
			return err
		}
	}
	return nil
}

// Run runs a command and returns its error with its output.
func Run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, Tail(out, 2000))
	}
	return nil
}

// Tail is the last n bytes of b.
func Tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// RequireRoot says why a benchmark that makes namespaces cannot run.
func RequireRoot(name string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (it makes network namespaces): sudo go run ./bench/%s", name)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the ip command is needed (iproute2): %w", err)
	}
	return nil
}

// DeleteNS kills what still runs in namespace ns and deletes it.
func DeleteNS(ns string) error {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return Run("ip", "netns", "del", ns)
}

// ProcUsage is one process's resident memory and CPU time, from /proc.
type ProcUsage struct {
	RSS, PeakRSS int64   // bytes: VmRSS, VmHWM
	CPU          float64 // user+system seconds
}

// ReadProc reads pid's usage; ok is false when it is gone.
func ReadProc(pid int) (u ProcUsage, ok bool) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, false
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			u.RSS = n << 10
		case "VmHWM":
			u.PeakRSS = n << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, false
	}
	// Fields after the command name (which may hold spaces): ") S ppid ...";
	// utime and stime are fields 14 and 15 of the whole line.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 13 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			stt, _ := strconv.ParseInt(f[12], 10, 64)
			u.CPU = float64(ut+stt) / 100 // USER_HZ is 100 on Linux
		}
	}
	return u, true
}

// Build builds gitboot and gitboot-agent from the module at root into dir
// and returns the gitboot binary's path.
func Build(root, dir string) (string, error) {
	bin := filepath.Join(dir, "gitboot")
	for _, b := range [][2]string{{bin, "./cmd/gitboot"}, {filepath.Join(dir, "gitboot-agent"), "./cmd/gitboot-agent"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", b[1], err, Tail(out, 2000))
		}
	}
	return bin, nil
}

// RunChild starts cmd (the half of a benchmark that runs inside a
// namespace), forwards SIGINT, SIGTERM and SIGHUP to it and returns its
// exit code once it ends (1 when it could not run). The child is sent
// SIGTERM should this process die first.
func RunChild(cmd *exec.Cmd) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				return ee.ExitCode()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			return 0
		}
	}
}

// TempDir makes a temporary directory named after prefix; done removes it
// (with keep, it names it on stderr instead).
func TempDir(prefix string, keep bool) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return dir, func() {
		if keep {
			fmt.Fprintf(os.Stderr, "kept %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}, nil
}

// Proc is a process a benchmark started (a server, tcpdump, QEMU), with
// a channel closed once it exited.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
}

// StartProc starts cmd (its output already set up), killed should this
// process die first; after, when not nil, runs once cmd exited.
func StartProc(cmd *exec.Cmd, after func()) (*Proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		if after != nil {
			after()
		}
		close(p.done)
	}()
	return p, nil
}

// Stop sends sig, waits up to grace for the process to exit, then kills it.
func (p *Proc) Stop(sig os.Signal, grace time.Duration) {
	p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed once the process exited.
func (p *Proc) Done() <-chan struct{} { return p.done }
