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

// lab is one target's network: namespace lan (a bridge, the VM's tap) and
// namespace srv (the server at serverIP/24, IPv6 fd98:7::1/64 for router
// advertisements, on a veth into the bridge).
type lab struct {
	lan, srv, br, tap, veth string
}

// newLab makes a lab whose names hold tag and this process's id.
func newLab(dir, tag string) (*lab, error) {
	id := fmt.Sprintf("%d%s", os.Getpid()%100000, tag)
	l := &lab{lan: "gbboot-lan-" + id, srv: "gbboot-srv-" + id, br: "bb" + id + "br", tap: "bb" + id + "t", veth: "bb" + id + "v"}
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
			fmt.Fprintln(os.Stderr, "bench/boot: cleanup:", err)
		}
	}
}

// proc is a process started in a namespace; its output goes to a log
// file, each line prefixed with the time it arrived.
type proc struct {
	*benchenv.Proc
	log string
}

// start runs name in the server namespace, its output to log.
func (l *lab) start(ctx context.Context, log, name string, args ...string) (*proc, error) {
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
	return &proc{Proc: p, log: log}, nil
}

func (p *proc) stop() { p.Stop(syscall.SIGTERM, 5*time.Second) }

// tail is the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	return string(benchenv.Tail(b, 3000))
}

// curl runs curl in the server namespace.
func (l *lab) curl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.srv, "curl", "-sSf", "--max-time", "60"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var msg string
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		return nil, fmt.Errorf("curl %s: %v %s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// waitHTTP polls url from the server namespace until it answers 2xx.
func (l *lab) waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	end := time.Now().Add(limit)
	for {
		_, err := l.curl(ctx, "-o", "/dev/null", url)
		if err == nil {
			return nil
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
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

// snapshot copies the output and its chunk times.
func (c *console) snapshot() ([]byte, []int, []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...), append([]int(nil), c.ends...), append([]time.Time(nil), c.stamps...)
}

// at is when the byte at offset off arrived.
func at(ends []int, stamps []time.Time, off int) time.Time {
	for i, e := range ends {
		if off < e {
			return stamps[i]
		}
	}
	return stamps[len(stamps)-1]
}

// qemuArgs are the QEMU arguments of mode, as test/e2e boots them
// (TCG, one CPU, virtio-net on the lab's tap; BIOS through the NIC's iPXE
// ROM, UEFI through OVMF's own PXE client and snponly.efi by TFTP).
func (l *lab) qemuArgs(dir, mode string, n node) ([]string, error) {
	args := []string{"-accel", "tcg", "-smp", "1", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-netdev", "tap,id=n0,ifname=" + l.tap + ",script=no,downscript=no"}
	if mode == "bios" {
		return append(args, "-machine", "pc", "-m", "384", "-no-reboot", "-boot", "n",
			"-device", "virtio-net-pci,netdev=n0,mac="+n.mac), nil
	}
	vars := filepath.Join(dir, "OVMF_VARS-"+l.tap+".fd")
	if err := benchenv.Run("cp", ovmfVars, vars); err != nil {
		return nil, err
	}
	return append(args, "-machine", "q35", "-m", "512",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n",
		"-device", "virtio-net-pci,netdev=n0,mac="+n.mac+",romfile=,bootindex=0"), nil
}

// boot powers on mode's node in this lab, waits for the marker and
// returns the boot's times. The serial log is kept in dir.
func (l *lab) boot(ctx context.Context, dir, mode, target string, i int, deadline time.Duration) (bootResult, error) {
	n := nodes[mode]
	args, err := l.qemuArgs(dir, mode, n)
	if err != nil {
		return bootResult{}, err
	}
	capt, err := startCapture(l.lan, l.tap)
	if err != nil {
		return bootResult{}, err
	}
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
	name := filepath.Join(dir, fmt.Sprintf("%s-%s-%d", target, mode, i+1))
	finish := func() []packet {
		cmd.Process.Kill()
		<-exited
		lines := capt.stop()
		buf, _, _ := con.snapshot()
		os.WriteFile(name+".serial", buf, 0o644)
		os.WriteFile(name+".pcap.txt", []byte(strings.Join(lines, "\n")), 0o644)
		return parsePackets(lines)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		buf, ends, stamps := con.snapshot()
		if _, _, ok := marked(buf, ends, stamps); ok {
			pkts := finish()
			res := analyse(buf, ends, stamps, pkts, start, mode)
			res.Target, res.Mode, res.Boot = target, mode, i+1
			return res, nil
		}
		select {
		case <-ctx.Done():
			finish()
			return bootResult{}, ctx.Err()
		case <-exited:
			if buf, ends, stamps := con.snapshot(); len(buf) > 0 {
				if _, _, ok := marked(buf, ends, stamps); ok {
					continue
				}
			}
			finish()
			return bootResult{}, fmt.Errorf("QEMU exited after %s without the marker %s: %s\n--- console (tail) ---\n%s",
				time.Since(start).Round(time.Second), marker, qerr.String(), benchenv.Tail(buf, 3000))
		case <-tick.C:
			if time.Since(start) > deadline {
				finish()
				return bootResult{}, fmt.Errorf("no %s line on the serial console within %s\n--- console (tail) ---\n%s", marker, deadline, benchenv.Tail(buf, 3000))
			}
		}
	}
}
