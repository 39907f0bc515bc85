package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// capture is tcpdump on a VM's tap for one boot: DHCP and HTTP (port
// 9873) packets with the kernel's timestamps, the same clock as the
// power-on time. It sees what the server sees, for gitboot and the
// reference alike, without relying on either's log.
type capture struct {
	p   *benchenv.Proc
	out netnstest.SyncBuffer
}

// startCapture starts tcpdump in namespace ns on iface and waits until it
// listens.
func startCapture(ns, iface string) (*capture, error) {
	c := &capture{}
	cmd := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-l", "-n", "-tt", "-U", "-i", iface,
		"udp port 67 or udp port 68 or tcp port 9873")
	cmd.Stdout = &c.out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if c.p, err = benchenv.StartProc(cmd, nil); err != nil {
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
			c.stop()
			return nil, fmt.Errorf("tcpdump did not start: %s", msg)
		}
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, fmt.Errorf("tcpdump did not start within 30 s")
	}
	return c, nil
}

// stop ends tcpdump and returns its lines.
func (c *capture) stop() []string {
	c.p.Stop(syscall.SIGINT, 5*time.Second)
	return strings.Split(c.out.String(), "\n")
}

// packet is one captured packet's time and kind.
type packet struct {
	t    time.Time
	kind string // dhcp-req, dhcp-reply, http-syn (client opens), http-srv (server sends)
}

// parsePackets reads tcpdump -n -tt lines.
func parsePackets(lines []string) []packet {
	var ps []packet
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
		ps = append(ps, packet{t, kind})
	}
	return ps
}
