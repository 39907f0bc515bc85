package benchenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// LabNames names a Lab's namespaces and links.
type LabNames struct {
	// Bench is the benchmark's name ("debian"), for its messages.
	Bench string
	// NS prefixes the namespaces: NS-lan-ID and NS-srv-ID.
	NS string
	// Link prefixes the links (two letters, as link names are short):
	// Link+ID+"br", Link+ID+"t" (the tap), Link+ID+"v" (the veth pair).
	Link string
	// ID makes the names unique (this process's id and a tag).
	ID string
}

// Lab is a QEMU node's network: namespace LAN (a bridge and the VM's tap)
// and namespace Srv (the server at serverIP/24 and fd98:7::1/64, for
// router advertisements, on a veth into the bridge: Veth+"l" in LAN,
// Veth+"s" in Srv).
type Lab struct {
	LAN, Srv, Br, Tap, Veth string
	bench                   string
}

// NewLab makes a lab with the server at serverIP.
func NewLab(n LabNames, serverIP string) (*Lab, error) {
	l := &Lab{LAN: n.NS + "-lan-" + n.ID, Srv: n.NS + "-srv-" + n.ID, Br: n.Link + n.ID + "br", Tap: n.Link + n.ID + "t",
		Veth: n.Link + n.ID + "v", bench: n.Bench}
	steps := [][]string{
		{"netns", "add", l.LAN}, {"netns", "add", l.Srv},
		{"-n", l.LAN, "link", "set", "lo", "up"}, {"-n", l.Srv, "link", "set", "lo", "up"},
		{"-n", l.LAN, "link", "add", l.Br, "type", "bridge", "forward_delay", "0", "stp_state", "0"},
		{"-n", l.LAN, "link", "set", l.Br, "up"},
		{"-n", l.LAN, "link", "add", l.Veth + "l", "type", "veth", "peer", "name", l.Veth + "s", "netns", l.Srv},
		{"-n", l.LAN, "link", "set", l.Veth + "l", "master", l.Br},
		{"-n", l.LAN, "link", "set", l.Veth + "l", "up"},
		{"netns", "exec", l.Srv, "sysctl", "-qw", "net.ipv6.conf." + l.Veth + "s.accept_dad=0"},
		{"-n", l.Srv, "addr", "add", serverIP + "/24", "dev", l.Veth + "s"},
		{"-n", l.Srv, "addr", "add", "fd98:7::1/64", "dev", l.Veth + "s", "nodad"},
		{"-n", l.Srv, "link", "set", l.Veth + "s", "up"},
		{"-n", l.LAN, "tuntap", "add", "dev", l.Tap, "mode", "tap"},
		{"-n", l.LAN, "link", "set", l.Tap, "master", l.Br},
		{"-n", l.LAN, "link", "set", l.Tap, "up"},
	}
	for i, s := range steps {
		if err := Run("ip", s...); err != nil {
			if i > 0 {
				l.Close()
			}
			return nil, err
		}
	}
	return l, nil
}

// Close kills what still runs in the lab's namespaces and deletes them.
func (l *Lab) Close() {
	for _, ns := range []string{l.LAN, l.Srv} {
		if err := DeleteNS(ns); err != nil {
			fmt.Fprintf(os.Stderr, "bench/%s: cleanup: %v\n", l.bench, err)
		}
	}
}

// Start runs name in the server namespace; its output goes to log, each
// line prefixed with the time it arrived.
func (l *Lab) Start(log, name string, args ...string) (*Proc, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.Srv, name}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p, err := StartProc(cmd, func() { pw.Close() })
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

// Curl runs curl -sSf --max-time 60 in the server namespace and returns
// its output.
func (l *Lab) Curl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Srv, "curl", "-sSf", "--max-time", "60"}, args...)...)
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

// WaitHTTP polls url from the server namespace, every interval, until it
// answers 2xx; after limit it returns the last error.
func (l *Lab) WaitHTTP(ctx context.Context, url string, limit, every time.Duration) error {
	end := time.Now().Add(limit)
	for {
		_, err := l.Curl(ctx, "-o", "/dev/null", url)
		if err == nil {
			return nil
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return err
		}
		time.Sleep(every)
	}
}

// Console is a VM's serial output with the time each chunk arrived.
type Console struct {
	mu     sync.Mutex
	buf    []byte
	ends   []int // ends[i]: buf length after chunk i
	stamps []time.Time
}

// Write appends p as one chunk, stamped now.
func (c *Console) Write(p []byte) (int, error) {
	now := time.Now()
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	c.ends = append(c.ends, len(c.buf))
	c.stamps = append(c.stamps, now)
	c.mu.Unlock()
	return len(p), nil
}

// Snapshot copies the output, each chunk's end offset and its time.
func (c *Console) Snapshot() ([]byte, []int, []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...), append([]int(nil), c.ends...), append([]time.Time(nil), c.stamps...)
}

// At is when the byte at offset off arrived, given a Snapshot's chunk
// ends and times.
func At(ends []int, stamps []time.Time, off int) time.Time {
	for i, e := range ends {
		if off < e {
			return stamps[i]
		}
	}
	return stamps[len(stamps)-1]
}

// VMBoot is one QEMU boot in a lab's LAN namespace.
type VMBoot struct {
	// Args are qemu-system-x86_64's arguments (the console on stdio).
	Args []string
	// Filter is tcpdump's filter for the packets kept (see StartCapture).
	Filter string
	// Keep is the path prefix of the kept logs: Keep+".serial" and
	// Keep+".pcap.txt".
	Keep string
	// Done says whether the console shows the boot finished.
	Done func(buf []byte, ends []int, stamps []time.Time) bool
	// Every is how often the console is looked at; Deadline is the
	// longest the boot may take.
	Every, Deadline time.Duration
	// Exited ends the error when QEMU exits first ("before
	// multi-user.target"); Missing starts it when Deadline passes ("no
	// multi-user.target on the console").
	Exited, Missing string
}

// VMRun is a finished boot: its console, its packets and its power-on time.
type VMRun struct {
	Console []byte
	Ends    []int
	Stamps  []time.Time
	Packets []Packet
	Start   time.Time
}

// Boot powers on a VM with b.Args on the lab's tap, with tcpdump on the
// tap, until b.Done, and kills it; its serial log and packets are kept.
func (l *Lab) Boot(ctx context.Context, b VMBoot) (VMRun, error) {
	capt, err := StartCapture(l.LAN, l.Tap, b.Filter)
	if err != nil {
		return VMRun{}, err
	}
	con := &Console{}
	var qerr netnstest.SyncBuffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.LAN, "qemu-system-x86_64"}, b.Args...)...)
	cmd.Stdout, cmd.Stderr = con, &qerr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		capt.Stop()
		return VMRun{}, fmt.Errorf("qemu: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	finish := func() []Packet {
		cmd.Process.Kill()
		<-exited
		lines := capt.Stop()
		buf, _, _ := con.Snapshot()
		os.WriteFile(b.Keep+".serial", buf, 0o644)
		os.WriteFile(b.Keep+".pcap.txt", []byte(strings.Join(lines, "\n")), 0o644)
		return ParsePackets(lines)
	}
	tick := time.NewTicker(b.Every)
	defer tick.Stop()
	for {
		buf, ends, stamps := con.Snapshot()
		if b.Done(buf, ends, stamps) {
			pkts := finish()
			return VMRun{Console: buf, Ends: ends, Stamps: stamps, Packets: pkts, Start: start}, nil
		}
		select {
		case <-ctx.Done():
			finish()
			return VMRun{}, ctx.Err()
		case <-exited:
			if buf, ends, stamps := con.Snapshot(); len(buf) > 0 && b.Done(buf, ends, stamps) {
				continue
			}
			finish()
			return VMRun{}, fmt.Errorf("QEMU exited after %s %s: %s\n--- console (tail) ---\n%s",
				time.Since(start).Round(time.Second), b.Exited, qerr.String(), Tail(buf, 3000))
		case <-tick.C:
			if time.Since(start) > b.Deadline {
				finish()
				return VMRun{}, fmt.Errorf("%s within %s\n--- console (tail) ---\n%s", b.Missing, b.Deadline, Tail(buf, 3000))
			}
		}
	}
}
