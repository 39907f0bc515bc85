package dhcp

import (
	"net/netip"
	"sync"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Seen remembers, for each declared node's MAC, the address its last
// DHCP exchange with this server showed (the yiaddr handed out, or the
// client's ciaddr), so the HTTP boot service can tell a node's own
// requests from others' when the node declares no ip, or in proxy mode
// where another server hands out the addresses. It holds declared nodes
// only, so its size is bounded by the node count. Safe for concurrent
// use; the zero value is not: make it with NewSeen.
type Seen struct {
	mu sync.RWMutex
	m  map[string]netip.Addr
}

// NewSeen returns an empty Seen.
func NewSeen() *Seen { return &Seen{m: map[string]netip.Addr{}} }

// Addr returns the address mac (canonical) last showed, if any.
func (s *Seen) Addr(mac string) (netip.Addr, bool) {
	if s == nil {
		return netip.Addr{}, false
	}
	s.mu.RLock()
	a, ok := s.m[mac]
	s.mu.RUnlock()
	return a, ok
}

// note records addr for mac; an invalid or unspecified address is
// ignored.
func (s *Seen) note(mac string, addr netip.Addr) {
	if s == nil || !addr.IsValid() || addr.IsUnspecified() {
		return
	}
	addr = addr.Unmap()
	s.mu.RLock()
	same := s.m[mac] == addr
	s.mu.RUnlock()
	if same {
		return
	}
	s.mu.Lock()
	s.m[mac] = addr
	s.mu.Unlock()
}

// learn notes the address a declared node's exchange shows: the address
// an ACK or OFFER gives it (or its ciaddr), and in proxy mode, where
// another server gives the addresses, the address a REQUEST asks that
// server for (option 50) or its ciaddr. A NAK shows nothing.
func (s *Seen) learn(snap *bootsvc.Snapshot, d Decision, req *dhcpv4.DHCPv4) {
	if s == nil || d.Node == nil {
		return
	}
	if d.Reply != nil {
		if d.Reply.MessageType() != dhcpv4.MessageTypeNak {
			s.note(d.MAC, d.Addr)
		}
		return
	}
	if snap == nil || snap.Server.DHCPMode != bootsvc.DHCPProxy {
		return
	}
	if req.MessageType() == dhcpv4.MessageTypeRequest {
		if a := requested(req); a.IsValid() {
			s.note(d.MAC, a)
			return
		}
	}
	s.note(d.MAC, ip4(req.ClientIPAddr))
}
