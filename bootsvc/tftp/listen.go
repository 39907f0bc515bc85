package tftp

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// listener reads requests from the listening socket with the address and
// interface each came in on (IP_PKTINFO), and sends refusals from a
// socket of their own: a client that resent its request ignores an error
// from a port that is not its transfer's.
type listener struct {
	conn net.PacketConn
	p4   *ipv4.PacketConn
	p6   *ipv6.PacketConn
	// refusals are sent from errConn, bound to the listening address
	// (any port), with the request's destination as source.
	errConn *net.UDPConn
	e4      *ipv4.PacketConn
	e6      *ipv6.PacketConn
	v6      bool
	mtu     mtuCache
}

func newListener(conn net.PacketConn) (*listener, error) {
	l := &listener{conn: conn, mtu: mtuCache{m: map[int]mtuEntry{}}}
	ua, _ := conn.LocalAddr().(*net.UDPAddr)
	var ip net.IP
	if ua != nil {
		ip = ua.IP
		l.v6 = ua.IP.To4() == nil
	}
	network := "udp4"
	if l.v6 {
		network = "udp6"
	}
	ec, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, err
	}
	l.errConn = ec
	uc, ok := conn.(*net.UDPConn)
	switch {
	case !ok:
	case l.v6:
		l.p6, l.e6 = ipv6.NewPacketConn(uc), ipv6.NewPacketConn(ec)
		if l.p6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true) != nil {
			l.p6 = nil
		}
	default:
		l.p4, l.e4 = ipv4.NewPacketConn(uc), ipv4.NewPacketConn(ec)
		if l.p4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true) != nil {
			l.p4 = nil
		}
	}
	return l, nil
}

// inbound is one datagram on the listening socket.
type inbound struct {
	n     int
	from  netip.AddrPort // unmapped
	local netip.Addr     // where it was sent to; invalid when unknown or a broadcast
	mtu   int            // of the interface it came in on; 0 when unknown
}

// read reads one datagram into b.
func (l *listener) read(b []byte) (inbound, error) {
	var in inbound
	var src net.Addr
	var err error
	ifindex := 0
	var dst net.IP
	switch {
	case l.p4 != nil:
		var cm *ipv4.ControlMessage
		in.n, cm, src, err = l.p4.ReadFrom(b)
		if cm != nil {
			dst, ifindex = cm.Dst, cm.IfIndex
		}
	case l.p6 != nil:
		var cm *ipv6.ControlMessage
		in.n, cm, src, err = l.p6.ReadFrom(b)
		if cm != nil {
			dst, ifindex = cm.Dst, cm.IfIndex
		}
	default:
		in.n, src, err = l.conn.ReadFrom(b)
	}
	if err != nil {
		return in, err
	}
	ua, ok := src.(*net.UDPAddr)
	if !ok {
		return in, errors.New("not a UDP address")
	}
	ap := ua.AddrPort()
	in.from = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if a, ok := netip.AddrFromSlice(dst); ok && !dst.Equal(net.IPv4bcast) && !a.Unmap().IsMulticast() {
		in.local = a.Unmap()
	}
	if ifindex > 0 {
		in.mtu = l.mtu.get(ifindex)
	}
	return in, nil
}

// maxBlock is the largest block that fits the interface's MTU (the IP and
// UDP headers and the DATA header off), at least 512.
func (in *inbound) maxBlock(v6 bool) int {
	if in.mtu == 0 {
		return defaultBlockSize
	}
	over := 28 + 4
	if v6 {
		over = 48 + 4
	}
	return max(in.mtu-over, defaultBlockSize)
}

// refuse sends an ERROR packet for a request the server does not serve.
func (l *listener) refuse(in inbound, err error) {
	pkt := appendError(make([]byte, 0, 64), errorCode(err), err.Error())
	to := net.UDPAddrFromAddrPort(in.from)
	switch {
	case l.e4 != nil && in.local.IsValid():
		l.e4.WriteTo(pkt, &ipv4.ControlMessage{Src: in.local.AsSlice()}, to)
	case l.e6 != nil && in.local.IsValid():
		l.e6.WriteTo(pkt, &ipv6.ControlMessage{Src: in.local.AsSlice()}, to)
	default:
		l.errConn.WriteToUDP(pkt, to)
	}
}

func (l *listener) close() {
	l.conn.Close()
	l.errConn.Close()
}

// mtuCache keeps the MTU per interface index, looked up again after a
// while: a netlink dump per request (what the library did) costs more
// than the rest of taking a request.
type mtuCache struct {
	mu sync.Mutex
	m  map[int]mtuEntry
}

type mtuEntry struct {
	mtu int
	at  time.Time
}

// mtuTTL is how long a looked-up MTU is used (an MTU change applies to
// requests after it).
const mtuTTL = 10 * time.Second

func (c *mtuCache) get(ifindex int) int {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[ifindex]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < mtuTTL {
		return e.mtu
	}
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return 0
	}
	c.mu.Lock()
	c.m[ifindex] = mtuEntry{mtu: ifi.MTU, at: now}
	c.mu.Unlock()
	return ifi.MTU
}
