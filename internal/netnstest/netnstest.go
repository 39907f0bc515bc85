// Package netnstest builds throw-away Linux network namespaces for tests that
// need real networking (DHCP, TFTP, HTTP boot, QEMU end-to-end runs) without
// touching the root namespace's interfaces.
//
// It is imported only by _test.go files (bootsvc/dhcp, bootsvc/tftp,
// test/e2e, ...). Everything it creates gets a name unique to the test run
// and is removed in t.Cleanup, even when the test fails.
//
// Typical use:
//
//	netnstest.Require(t)                      // skip unless root; t.Fatal under CI=true
//	srv := netnstest.New(t, "srv")            // namespace with lo up
//	cli := netnstest.New(t, "cli")
//	sIf, cIf := netnstest.Veth(t, srv, "10.99.0.1/24", cli, "")
//	conn, err := srv.ListenPacket("udp4", "0.0.0.0:67") // a socket inside srv
//	err = srv.Do(func() error { ... })        // any code on an OS thread inside srv;
//	                                          // sockets it opens stay in srv
//	out, err := cli.Output(ctx, "udhcpc", "-n", "-q", "-i", cIf)
//
// For a shared segment (many clients, or a VM's tap), make a bridge in its
// own namespace and plug the others into it with Attach:
//
//	lan := netnstest.New(t, "lan")
//	br := lan.Bridge(t)
//	srvIf := netnstest.Attach(t, lan, br, srv, "10.99.0.1/24")
//	tap := lan.Tap(t, br)                     // for qemu run inside lan
package netnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	runID   = randomHex(3)
	counter atomic.Uint32
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return fmt.Sprintf("%0*x", 2*n, os.Getpid())
	}
	return hex.EncodeToString(b)
}

// Require skips the test when it cannot create namespaces (not root, or no
// `ip` command). Under CI=true it fails the test instead: CI runs as root and
// these tests must not silently skip there.
func Require(t testing.TB) {
	t.Helper()
	reason := ""
	switch {
	case os.Geteuid() != 0:
		reason = "needs root to create network namespaces"
	default:
		if _, err := exec.LookPath("ip"); err != nil {
			reason = "needs the ip command (package iproute2)"
		}
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: namespace tests must not skip)", reason)
	}
	t.Skip(reason)
}

// RequireCommands skips (or fails under CI=true) when any of the named
// programs is not on PATH.
func RequireCommands(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("needs %s on PATH (CI=true: must not skip)", n)
			}
			t.Skipf("needs %s on PATH", n)
		}
	}
}

// UniqueName returns a name unique to this process and call, made of
// prefix (truncated to 5 bytes) and 9 more characters, so it is always a
// valid interface name (at most 15 bytes).
func UniqueName(prefix string) string {
	if len(prefix) > 5 {
		prefix = prefix[:5]
	}
	return fmt.Sprintf("%s%s%03x", prefix, runID, counter.Add(1)&0xfff)
}

// NS is one network namespace made by New.
type NS struct {
	// Name is the namespace's name, as used by `ip netns exec Name`.
	Name string
}

// New creates a namespace named after prefix, brings its loopback up, and
// deletes it in t.Cleanup. Processes started with Start are stopped first.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	ns := &NS{Name: "gbt-" + UniqueName(prefix)}
	mustIP(t, "netns", "add", ns.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Logf("netnstest: deleting namespace %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.MustIP(t, "link", "set", "lo", "up")
	return ns
}

// Veth connects two namespaces with a veth pair and returns the interface
// names in a and b. Each address (CIDR, e.g. "10.99.0.1/24") is assigned
// when not empty; both ends are brought up.
func Veth(t testing.TB, a *NS, aAddr string, b *NS, bAddr string) (aIf, bIf string) {
	t.Helper()
	aIf, bIf = UniqueName("va"), UniqueName("vb")
	mustIP(t, "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.up(t, aIf, aAddr)
	b.up(t, bIf, bAddr)
	return aIf, bIf
}

// Bridge creates a bridge inside ns, brings it up, and returns its name.
func (ns *NS) Bridge(t testing.TB) string {
	t.Helper()
	br := UniqueName("br")
	ns.MustIP(t, "link", "add", br, "type", "bridge")
	// No STP forwarding delay: ports forward as soon as they are up.
	ns.MustIP(t, "link", "set", br, "type", "bridge", "forward_delay", "0", "stp_state", "0")
	ns.MustIP(t, "link", "set", br, "up")
	return br
}

// Attach plugs namespace member into the bridge br (which lives in lan) with
// a new veth pair, assigns addr (CIDR, optional) to member's end and returns
// the name of member's interface.
func Attach(t testing.TB, lan *NS, br string, member *NS, addr string) string {
	t.Helper()
	portIf, memberIf := Veth(t, lan, "", member, addr)
	lan.MustIP(t, "link", "set", portIf, "master", br)
	return memberIf
}

// AttachMAC is Attach with a given MAC address on member's interface (for
// DHCP clients that must look like a declared node).
func AttachMAC(t testing.TB, lan *NS, br string, member *NS, mac, addr string) string {
	t.Helper()
	portIf, memberIf := UniqueName("va"), UniqueName("vb")
	mustIP(t, "link", "add", portIf, "netns", lan.Name, "type", "veth",
		"peer", "name", memberIf, "address", mac, "netns", member.Name)
	lan.up(t, portIf, "")
	member.up(t, memberIf, addr)
	lan.MustIP(t, "link", "set", portIf, "master", br)
	return memberIf
}

// Tap creates a tap device inside ns, plugs it into the bridge br (also in
// ns) when br is not empty, brings it up and returns its name. QEMU run with
// ns.Start can then use `-netdev tap,ifname=NAME,script=no,downscript=no`.
func (ns *NS) Tap(t testing.TB, br string) string {
	t.Helper()
	tap := UniqueName("tap")
	ns.MustIP(t, "tuntap", "add", "dev", tap, "mode", "tap")
	if br != "" {
		ns.MustIP(t, "link", "set", tap, "master", br)
	}
	ns.MustIP(t, "link", "set", tap, "up")
	return tap
}

// SetMAC sets the hardware address of ifname inside ns (bring it down and up
// around the change).
func (ns *NS) SetMAC(t testing.TB, ifname, mac string) {
	t.Helper()
	ns.MustIP(t, "link", "set", ifname, "down")
	ns.MustIP(t, "link", "set", ifname, "address", mac)
	ns.MustIP(t, "link", "set", ifname, "up")
}

func (ns *NS) up(t testing.TB, ifname, addr string) {
	t.Helper()
	if addr != "" {
		ns.MustIP(t, "addr", "add", addr, "dev", ifname)
	}
	ns.MustIP(t, "link", "set", ifname, "up")
}

// MustIP runs `ip ARGS...` inside ns and fails the test on error.
func (ns *NS) MustIP(t testing.TB, args ...string) {
	t.Helper()
	mustIP(t, append([]string{"-n", ns.Name}, args...)...)
}

func mustIP(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// Command returns an exec.Cmd that runs name with args inside ns (through
// `ip netns exec`). The caller starts and waits for it.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Output runs name with args inside ns and returns its combined output.
func (ns *NS) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s in %s: %w", name, ns.Name, err)
	}
	return out, nil
}

// Start starts name with args inside ns in the background, with stdout and
// stderr going to the returned buffer, and stops it (SIGTERM, then SIGKILL
// after 2 s) in t.Cleanup, before the namespace is deleted.
func (ns *NS) Start(t testing.TB, name string, args ...string) (*exec.Cmd, *SyncBuffer) {
	t.Helper()
	var buf SyncBuffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s in %s: %v", name, ns.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return cmd, &buf
}

// Do runs fn on an OS thread that has joined ns and returns fn's error.
// Sockets opened inside fn belong to ns and stay there after Do returns, so
// a Go server can bind inside the namespace and then serve from any
// goroutine. Goroutines that fn starts do NOT run inside ns.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is unlocked (and reused) only when it is back in the
		// original namespace; otherwise the goroutine exits while locked and
		// the runtime terminates the thread.
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			errc <- fmt.Errorf("opening own namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns.Name)
		if err != nil {
			errc <- fmt.Errorf("opening namespace %s: %w", ns.Name, err)
			return
		}
		defer target.Close()
		if err := setns(target.Fd()); err != nil {
			errc <- fmt.Errorf("entering namespace %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := setns(orig.Fd()); err != nil {
			errc <- fmt.Errorf("leaving namespace %s: %w", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// ListenPacket is net.ListenPacket inside ns: the socket belongs to ns.
func (ns *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Listen is net.Listen inside ns: the listener belongs to ns.
func (ns *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// Dial is net.Dial from inside ns.
func (ns *NS) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = net.Dial(network, address)
		return err
	})
	return c, err
}

func setns(fd uintptr) error { return unix.Setns(int(fd), unix.CLONE_NEWNET) }

// SyncBuffer is a bytes.Buffer safe for a process writing while the test
// reads.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
