package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// IPv6 router advertisements. iPXE waits ~16 s for IPv6 autoconfiguration
// on every boot unless a router advertisement arrives; one with the M and O
// flags clear and router lifetime 0 (not a default router, no DHCPv6) ends
// the wait at once. The daemon runs one advertiser per DHCP interface
// unless server.router_advert is false.

var (
	allNodes   = net.ParseIP("ff02::1")
	allRouters = net.ParseIP("ff02::2")
)

// RAConfig configures ServeRA.
type RAConfig struct {
	// Interface is where advertisements go (required).
	Interface string
	// Interval between unsolicited advertisements (default 30 s); router
	// solicitations are answered at once, at most one answer per
	// MinGap (default 200 ms).
	Interval time.Duration
	MinGap   time.Duration
	Logger   *slog.Logger
}

// RAConn is an ICMPv6 socket set up for router advertisements on one
// interface. Open it with ListenRA; ServeRA uses it.
type RAConn struct {
	c   *icmp.PacketConn
	p   *ipv6.PacketConn
	ifi *net.Interface
}

// ListenRA opens an ICMPv6 socket on ifname that receives router
// solicitations and sends with hop limit 255, as router advertisements
// must. Needs CAP_NET_RAW.
func ListenRA(ifname string) (*RAConn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("router advertisements: %w", err)
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("router advertisements on %s: %w", ifname, err)
	}
	p := c.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	for _, step := range []func() error{
		func() error { return p.SetICMPFilter(&f) },
		func() error { return p.SetMulticastHopLimit(255) },
		func() error { return p.SetHopLimit(255) },
		func() error { return p.SetMulticastInterface(ifi) },
		func() error { return p.SetMulticastLoopback(false) },
		func() error { return p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagHopLimit, true) },
		func() error { return p.JoinGroup(ifi, &net.IPAddr{IP: allRouters}) },
	} {
		if err := step(); err != nil {
			c.Close()
			return nil, fmt.Errorf("router advertisements on %s: %w", ifname, err)
		}
	}
	return &RAConn{c: c, p: p, ifi: ifi}, nil
}

// Close closes the socket.
func (r *RAConn) Close() error { return r.c.Close() }

// routerAdvert builds the advertisement: hop limit unspecified, M and O
// clear, router lifetime 0, and the source link-layer address option.
func routerAdvert(mac net.HardwareAddr) []byte {
	b := []byte{
		134, 0, 0, 0, // type, code, checksum (the kernel fills it in)
		0,    // current hop limit: unspecified
		0,    // flags: M = 0, O = 0
		0, 0, // router lifetime 0: not a default router
		0, 0, 0, 0, // reachable time
		0, 0, 0, 0, // retransmission timer
	}
	if len(mac) == 6 {
		b = append(b, 1, 1) // source link-layer address, 8 bytes
		b = append(b, mac...)
	}
	return b
}

// ServeRA sends router advertisements on conn's interface every Interval
// and in answer to router solicitations, until ctx is done. It closes conn
// when it returns.
func ServeRA(ctx context.Context, c RAConfig, conn *RAConn) error {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.MinGap <= 0 {
		c.MinGap = 200 * time.Millisecond
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("svc", "ra", "interface", conn.ifi.Name)
	ra := routerAdvert(conn.ifi.HardwareAddr)
	dst := &net.IPAddr{IP: allNodes, Zone: conn.ifi.Name}
	cm := &ipv6.ControlMessage{HopLimit: 255, IfIndex: conn.ifi.Index}
	var last time.Time
	// The first advertisements go out a second apart (the link may not
	// have had its link-local address yet), then every Interval.
	initial := 3
	send := func() {
		last = time.Now()
		if _, err := conn.p.WriteTo(ra, cm, dst); err != nil {
			if initial > 0 && errors.Is(err, syscall.EADDRNOTAVAIL) {
				// The link-local address is still tentative (duplicate
				// address detection): the next initial send follows.
				log.Debug("router advertisement not sent yet: no link-local address", "err", err)
				return
			}
			log.Warn("sending router advertisement", "err", err)
		}
	}
	// A solicitation within MinGap of the last advertisement is answered
	// when the gap has passed, never dropped.
	var delayed <-chan time.Time
	solicit := func() {
		if delayed != nil {
			return
		}
		if wait := c.MinGap - time.Since(last); wait > 0 {
			delayed = time.After(wait)
			return
		}
		send()
	}

	solicited := make(chan struct{}, 1)
	readErr := make(chan error, 1)
	go readSolicitations(conn, solicited, readErr)
	defer func() { conn.Close(); <-readErr }()

	tick := time.NewTicker(min(time.Second, c.Interval))
	defer tick.Stop()
	send()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if initial--; initial == 0 {
				tick.Reset(c.Interval)
			}
			send()
		case <-solicited:
			solicit()
		case <-delayed:
			delayed = nil
			send()
		case err := <-readErr:
			readErr <- err // for the deferred drain
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("router advertisements on %s: %w", conn.ifi.Name, err)
		}
	}
}

// readSolicitations reads conn until it fails, which it sends on readErr,
// and signals each valid router solicitation on solicited (without
// blocking: one pending signal stands for any number).
func readSolicitations(conn *RAConn, solicited chan<- struct{}, readErr chan<- error) {
	buf := make([]byte, 1500)
	for {
		n, rcm, _, err := conn.p.ReadFrom(buf)
		if err != nil {
			readErr <- err
			return
		}
		// A valid solicitation: ICMPv6 type 133, hop limit 255, on our interface.
		if n < 8 || buf[0] != 133 || (rcm != nil && (rcm.HopLimit != 255 || rcm.IfIndex != conn.ifi.Index)) {
			continue
		}
		select {
		case solicited <- struct{}{}:
		default:
		}
	}
}
