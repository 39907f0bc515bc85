package dhcp

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// TestRouterAdvert: a client on the server's link receives the initial
// router advertisement and one in answer to its router solicitation, each
// with hop limit 255, M and O clear, router lifetime 0 and the server's MAC.
func TestRouterAdvert(t *testing.T) {
	netnstest.Require(t)
	srv, cli := netnstest.New(t, "ras"), netnstest.New(t, "rac")
	for _, ns := range []*netnstest.NS{srv, cli} {
		// No duplicate address detection (link-local addresses are usable
		// at once) and no solicitations from the kernel (only the test's).
		// (/proc/sys/net shows the namespace of the process reading it.)
		if out, err := ns.Output(context.Background(), "sh", "-c",
			"echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad && echo 0 > /proc/sys/net/ipv6/conf/default/router_solicitations"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	srvIf, cliIf := netnstest.Veth(t, srv, "", cli, "")
	waitLinkLocal(t, srv, srvIf)
	waitLinkLocal(t, cli, cliIf)

	// The client listens first, so it sees the initial advertisement too.
	var cc *icmp.PacketConn
	mustNoErr(t, cli.Do(func() error {
		var err error
		cc, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}))
	defer cc.Close()
	cp := cc.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	mustNoErr(t, cp.SetICMPFilter(&f))
	mustNoErr(t, cp.SetControlMessage(ipv6.FlagHopLimit, true))
	cifi := interfaceIn(t, cli, cliIf)
	mustNoErr(t, cp.JoinGroup(cifi, &net.IPAddr{IP: allNodes}))

	var rc *RAConn
	mustNoErr(t, srv.Do(func() error {
		var err error
		rc, err = ListenRA(srvIf)
		return err
	}))
	sifi := interfaceIn(t, srv, srvIf)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ServeRA(ctx, RAConfig{Interface: srvIf, Interval: time.Hour, MinGap: time.Millisecond}, rc); err != nil {
			t.Errorf("ServeRA: %v", err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	checkAdvert(t, cp, sifi.HardwareAddr, "initial")

	mustNoErr(t, cp.SetMulticastHopLimit(255))
	mustNoErr(t, cp.SetMulticastInterface(cifi))
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0}
	if _, err := cp.WriteTo(rs, nil, &net.IPAddr{IP: allRouters, Zone: cliIf}); err != nil {
		t.Fatal(err)
	}
	checkAdvert(t, cp, sifi.HardwareAddr, "solicited")
}

// checkAdvert reads the next router advertisement from cp (what names it
// in failures) and checks it: type 134, M and O clear, router lifetime 0,
// hop limit 255, the server's MAC srvMAC as source link-layer address,
// from a link-local address.
func checkAdvert(t *testing.T, cp *ipv6.PacketConn, srvMAC net.HardwareAddr, what string) {
	t.Helper()
	buf := make([]byte, 1500)
	_ = cp.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, cm, from, err := cp.ReadFrom(buf)
	if err != nil {
		t.Fatalf("%s: no router advertisement: %v", what, err)
	}
	b := buf[:n]
	if len(b) < 24 || b[0] != 134 || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		t.Fatalf("%s: advertisement % x: want type 134, flags 0, lifetime 0", what, b)
	}
	if cm == nil || cm.HopLimit != 255 {
		t.Fatalf("%s: hop limit %v, want 255", what, cm)
	}
	if got := net.HardwareAddr(b[18:24]); b[16] != 1 || got.String() != srvMAC.String() {
		t.Fatalf("%s: source link-layer option % x, want %s", what, b[16:], srvMAC)
	}
	if ip := from.(*net.IPAddr).IP; !ip.IsLinkLocalUnicast() {
		t.Fatalf("%s: from %v, want a link-local address", what, ip)
	}
}

func interfaceIn(t *testing.T, ns *netnstest.NS, name string) *net.Interface {
	t.Helper()
	var ifi *net.Interface
	mustNoErr(t, ns.Do(func() error {
		var err error
		ifi, err = net.InterfaceByName(name)
		return err
	}))
	return ifi
}

// waitLinkLocal waits until ifname in ns has a usable IPv6 link-local
// address (the kernel adds it shortly after the link comes up).
func waitLinkLocal(t *testing.T, ns *netnstest.NS, ifname string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := ns.Output(context.Background(), "ip", "-6", "addr", "show", "dev", ifname, "scope", "link")
		if err == nil && strings.Contains(string(out), "fe80::") && !strings.Contains(string(out), "tentative") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link-local address on %s: %v %s", ifname, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
