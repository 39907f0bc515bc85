package benchenv

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// Capture is tcpdump on a VM's tap for one boot, with the kernel's
// timestamps (the same clock as the power-on time). It sees what the
// server sees, without relying on the server's log.
type Capture struct {
	p   *Proc
	out netnstest.SyncBuffer
}

// StartCapture starts tcpdump in namespace ns on iface, keeping the
// packets filter matches (a pcap filter: DHCP and the HTTP port 9873),
// and waits until it listens.
func StartCapture(ns, iface, filter string) (*Capture, error) {
	c := &Capture{}
	cmd := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-l", "-n", "-tt", "-U", "-i", iface, filter)
	cmd.Stdout = &c.out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if c.p, err = StartProc(cmd, nil); err != nil {
		return nil, fmt.Errorf("tcpdump (apt-get install tcpdump): %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var all strings.Builder
		sent := false
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), "listening on") {
				ready <- ""
				sent = true
			}
		}
		if !sent {
			ready <- all.String()
		}
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			c.Stop()
			return nil, fmt.Errorf("tcpdump did not start: %s", msg)
		}
	case <-time.After(30 * time.Second):
		c.Stop()
		return nil, fmt.Errorf("tcpdump did not start within 30 s")
	}
	return c, nil
}

// Stop ends tcpdump and returns its lines.
func (c *Capture) Stop() []string {
	c.p.Stop(syscall.SIGINT, 5*time.Second)
	return strings.Split(c.out.String(), "\n")
}

// Packet is one captured packet's time and kind.
type Packet struct {
	T    time.Time
	Kind string // dhcp-req, dhcp-reply, http-syn (client opens), http-srv (server sends)
}

// ParsePackets reads tcpdump -n -tt lines; lines of other packets are
// passed over.
func ParsePackets(lines []string) []Packet {
	var ps []Packet
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 5 || f[1] != "IP" {
			continue
		}
		sec, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		t := time.Unix(0, int64(sec*1e9))
		src, dst := f[2], strings.TrimSuffix(f[4], ":")
		var kind string
		switch {
		case strings.HasSuffix(dst, ".67") && strings.Contains(l, "Request"):
			kind = "dhcp-req"
		case strings.HasSuffix(src, ".67") && strings.Contains(l, "Reply"):
			kind = "dhcp-reply"
		case strings.HasSuffix(dst, ".9873") && strings.Contains(l, "Flags [S]"):
			kind = "http-syn"
		case strings.HasSuffix(src, ".9873"):
			kind = "http-srv"
		default:
			continue
		}
		ps = append(ps, Packet{t, kind})
	}
	return ps
}
