package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// lab is namespace lan (a bridge and the VM's tap) and namespace srv (the
// server at serverIP/24 and fd98:7::1/64, for gitboot's router
// advertisements, on a veth into the bridge).
type lab struct {
	lan, srv, br, tap, veth string
}

func newLab() (*lab, error) {
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	l := &lab{lan: "gbdeb-lan-" + id, srv: "gbdeb-srv-" + id, br: "bd" + id + "br", tap: "bd" + id + "t", veth: "bd" + id + "v"}
	steps := [][]string{
		{"netns", "add", l.lan}, {"netns", "add", l.srv},
		{"-n", l.lan, "link", "set", "lo", "up"}, {"-n", l.srv, "link", "set", "lo", "up"},
		{"-n", l.lan, "link", "add", l.br, "type", "bridge", "forward_delay", "0", "stp_state", "0"},
		{"-n", l.lan, "link", "set", l.br, "up"},
		{"-n", l.lan, "link", "add", l.veth + "l", "type", "veth", "peer", "name", l.veth + "s", "netns", l.srv},
		{"-n", l.lan, "link", "set", l.veth + "l", "master", l.br},
		{"-n", l.lan, "link", "set", l.veth + "l", "up"},
		{"netns", "exec", l.srv, "sysctl", "-qw", "net.ipv6.conf." + l.veth + "s.accept_dad=0"},
		{"-n", l.srv, "addr", "add", serverIP + "/24", "dev", l.veth + "s"},
		{"-n", l.srv, "addr", "add", "fd98:7::1/64", "dev", l.veth + "s", "nodad"},
		{"-n", l.srv, "link", "set", l.veth + "s", "up"},
		{"-n", l.lan, "tuntap", "add", "dev", l.tap, "mode", "tap"},
		{"-n", l.lan, "link", "set", l.tap, "master", l.br},
		{"-n", l.lan, "link", "set", l.tap, "up"},
	}
	for i, s := range steps {
		if err := benchenv.Run("ip", s...); err != nil {
			if i > 0 {
				l.close()
			}
			return nil, err
		}
	}
	return l, nil
}

// close kills what still runs in the lab's namespaces and deletes them.
func (l *lab) close() {
	for _, ns := range []string{l.lan, l.srv} {
		if err := benchenv.DeleteNS(ns); err != nil {
			fmt.Fprintln(os.Stderr, "bench/debian: cleanup:", err)
		}
	}
}

// serve runs name in the server namespace; its output goes to log, each
// line prefixed with the time it arrived.
func (l *lab) serve(log, name string, args ...string) (*benchenv.Proc, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.srv, name}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p, err := benchenv.StartProc(cmd, func() { pw.Close() })
	if err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), sc.Text())
		}
		f.Close()
	}()
	return p, nil
}

// waitHTTP polls url from the server namespace until it answers 2xx.
func (l *lab) waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	end := time.Now().Add(limit)
	for {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.srv, "curl", "-sSf", "-o", "/dev/null", url).CombinedOutput()
		if err == nil {
			return nil
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return fmt.Errorf("curl %s: %v %s", url, err, out)
		}
		time.Sleep(time.Second)
	}
}

// console is a VM's serial output with the time each chunk arrived.
type console struct {
	mu     sync.Mutex
	buf    []byte
	ends   []int // ends[i]: buf length after chunk i
	stamps []time.Time
}

func (c *console) Write(p []byte) (int, error) {
	now := time.Now()
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	c.ends = append(c.ends, len(c.buf))
	c.stamps = append(c.stamps, now)
	c.mu.Unlock()
	return len(p), nil
}

func (c *console) snapshot() ([]byte, []int, []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...), append([]int(nil), c.ends...), append([]time.Time(nil), c.stamps...)
}

// boot powers on the BIOS node (as test/e2e's Debian test: TCG, one CPU,
// -m 2560, the NIC's iPXE ROM), waits for multi-user.target on its
// console and returns the boot's times. Its serial log and packets are
// kept in dir.
func (l *lab) boot(ctx context.Context, dir string, i int, deadline time.Duration) (bootResult, error) {
	capt, err := startCapture(l.lan, l.tap)
	if err != nil {
		return bootResult{}, err
	}
	args := []string{"-accel", "tcg", "-smp", "1", "-m", memory, "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-machine", "pc", "-no-reboot", "-boot", "n",
		"-netdev", "tap,id=n0,ifname=" + l.tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + nodeMAC}
	con := &console{}
	var qerr netnstest.SyncBuffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.lan, "qemu-system-x86_64"}, args...)...)
	cmd.Stdout, cmd.Stderr = con, &qerr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		capt.stop()
		return bootResult{}, fmt.Errorf("qemu: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	name := filepath.Join(dir, fmt.Sprintf("bios-%d", i+1))
	finish := func() []packet {
		cmd.Process.Kill()
		<-exited
		lines := capt.stop()
		buf, _, _ := con.snapshot()
		os.WriteFile(name+".serial", buf, 0o644)
		os.WriteFile(name+".pcap.txt", []byte(strings.Join(lines, "\n")), 0o644)
		return parsePackets(lines)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		buf, ends, stamps := con.snapshot()
		if loc := multiUserRE.FindIndex(buf); loc != nil {
			pkts := finish()
			return analyse(buf, ends, stamps, pkts, start), nil
		}
		select {
		case <-ctx.Done():
			finish()
			return bootResult{}, ctx.Err()
		case <-exited:
			if buf, _, _ := con.snapshot(); multiUserRE.Match(buf) {
				continue
			}
			finish()
			return bootResult{}, fmt.Errorf("QEMU exited after %s before multi-user.target: %s\n--- console (tail) ---\n%s",
				time.Since(start).Round(time.Second), qerr.String(), benchenv.Tail(buf, 3000))
		case <-tick.C:
			if time.Since(start) > deadline {
				finish()
				return bootResult{}, fmt.Errorf("no multi-user.target on the console within %s\n--- console (tail) ---\n%s", deadline, benchenv.Tail(buf, 3000))
			}
		}
	}
}
