package dhcp

import (
	"bytes"
	"net"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
)

// arrival is the socket a request came in on and how to answer there.
type arrival struct {
	conn    net.PacketConn
	pc      *ipv4.PacketConn // an unbound socket: answer out of ifindex
	uc      *net.UDPConn
	ifindex int
}

// send writes d's reply through r, counting and logging a failure.
func (s *Server) send(r arrival, d Decision) bool {
	out := d.Reply.ToBytes()
	var err error
	switch {
	case r.pc != nil && r.ifindex > 0:
		_, err = r.pc.WriteTo(out, &ipv4.ControlMessage{IfIndex: r.ifindex}, net.UDPAddrFromAddrPort(d.Dest))
	case r.uc != nil:
		_, err = r.uc.WriteToUDPAddrPort(out, d.Dest)
	default:
		_, err = r.conn.WriteTo(out, net.UDPAddrFromAddrPort(d.Dest))
	}
	if err != nil {
		s.sendErrors.Add(1)
		s.log.Warn("sending reply", "to", d.Dest, "mac", d.MAC, "err", err)
		return false
	}
	return true
}

// admit tells the admission gate about a decided request: false when the
// gate holds it (or drops it, past a full queue) instead of its being
// answered now. Only a boot firmware's DISCOVER of a declared node that
// arrived on a socket (from) is ever held; the rest start, move on or
// end the node's boot.
func (s *Server) admit(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, d Decision, pkt []byte, m Meta, from *arrival) bool {
	a := s.cfg.Admission
	switch {
	case d.Node == nil || d.Reply == nil:
		return true
	case !d.Boot:
		a.end(d.MAC) // its own OS is up
		return true
	case from == nil || !holdable(snap, req, d, m):
		a.start(d.MAC)
		return true
	}
	r := *from
	pkt = bytes.Clone(pkt)
	now, _ := a.admit(d.MAC, func() { s.answerHeld(pkt, m, r) })
	return now
}

// holdable reports whether the request is one the gate may hold: a boot
// firmware's DISCOVER answered with an address offer.
func holdable(snap *bootsvc.Snapshot, req *dhcpv4.DHCPv4, d Decision, m Meta) bool {
	return req.MessageType() == dhcpv4.MessageTypeDiscover && d.Reply.MessageType() == dhcpv4.MessageTypeOffer &&
		snap.Server.DHCPMode != bootsvc.DHCPProxy && m.LocalPort != ProxyPort && !isIPXE(req)
}

// answerHeld decides a held DISCOVER afresh (the snapshot may have
// changed) and sends the answer; the boot the gate counted for it ends
// when there is none.
func (s *Server) answerHeld(pkt []byte, m Meta, r arrival) {
	m.Now = time.Now()
	d := s.handleSafe(pkt, m, nil)
	if d.Reply == nil || !s.send(r, d) {
		s.cfg.Admission.end(d.MAC)
	}
}
