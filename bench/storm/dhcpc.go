package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/sys/unix"
)

// dhcpMux is the simulated nodes' one DHCP client socket (0.0.0.0:68 bound
// to the client interface, as every node on a segment shares the port):
// replies are broadcast, and each goes to the node waiting on its xid.
type dhcpMux struct {
	conn    net.PacketConn
	mu      sync.Mutex
	waiting map[uint32]chan *dhcpv4.DHCPv4
}

func newDHCPMux(ifname string) (*dhcpMux, error) {
	lc := net.ListenConfig{Control: func(_, _ string, raw syscall.RawConn) error {
		var serr error
		err := raw.Control(func(fd uintptr) {
			serr = errors.Join(
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20),
				unix.BindToDevice(int(fd), ifname))
		})
		return errors.Join(err, serr)
	}}
	conn, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
	if err != nil {
		return nil, fmt.Errorf("DHCP client socket: %w", err)
	}
	m := &dhcpMux{conn: conn, waiting: map[uint32]chan *dhcpv4.DHCPv4{}}
	go m.read()
	return m, nil
}

func (m *dhcpMux) read() {
	buf := make([]byte, 1500)
	for {
		n, _, err := m.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		p, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || p.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		m.mu.Lock()
		ch := m.waiting[binary.BigEndian.Uint32(p.TransactionID[:])]
		m.mu.Unlock()
		if ch != nil {
			select {
			case ch <- p:
			default: // a duplicate answer: the node already has one
			}
		}
	}
}

// exchange sends req until a reply of type want comes, waiting 4, 8, 16
// and 32 s between tries as PXE firmware does. It returns the reply and
// how many sends it took.
func (m *dhcpMux) exchange(ctx context.Context, req *dhcpv4.DHCPv4, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, int, error) {
	xid := binary.BigEndian.Uint32(req.TransactionID[:])
	ch := make(chan *dhcpv4.DHCPv4, 4)
	m.mu.Lock()
	m.waiting[xid] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.waiting, xid)
		m.mu.Unlock()
	}()
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	b := req.ToBytes()
	for try, wait := 1, 4*time.Second; try <= 4; try, wait = try+1, wait*2 {
		if _, err := m.conn.WriteTo(b, dst); err != nil {
			return nil, try, fmt.Errorf("sending DHCP %s: %w", req.MessageType(), err)
		}
		t := time.NewTimer(wait)
	recv:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, try, ctx.Err()
			case p := <-ch:
				if p.MessageType() == want {
					t.Stop()
					return p, try, nil
				}
				if p.MessageType() == dhcpv4.MessageTypeNak {
					t.Stop()
					return nil, try, fmt.Errorf("DHCP %s answered with NAK: %s", req.MessageType(), p.Message())
				}
			case <-t.C:
				break recv
			}
		}
	}
	return nil, 4, fmt.Errorf("no DHCP %s after 4 tries (4+8+16+32 s)", want)
}

// lease is what a node's DORA gave it.
type lease struct {
	ip, server net.IP
	bootFile   string
}

// dora runs DISCOVER/OFFER/REQUEST/ACK for mac as PXE firmware (BIOS,
// arch 0) or, with ipxe, as iPXE (user class iPXE and option 175).
func (m *dhcpMux) dora(ctx context.Context, mac net.HardwareAddr, ipxe bool) (lease, int, error) {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerName, dhcpv4.OptionRouter),
	}
	if ipxe {
		// iPXE's user class and its encapsulated options (sub-option 19:
		// HTTP supported).
		mods = append(mods, dhcpv4.WithUserClass("iPXE", false),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(175), []byte{19, 1, 1})))
	}
	disc, err := dhcpv4.NewDiscovery(mac, mods...)
	if err != nil {
		return lease{}, 0, err
	}
	offer, tries, err := m.exchange(ctx, disc, dhcpv4.MessageTypeOffer)
	if err != nil {
		return lease{}, tries, err
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, mods...)
	if err != nil {
		return lease{}, tries, err
	}
	ack, t2, err := m.exchange(ctx, req, dhcpv4.MessageTypeAck)
	tries += t2 - 1
	if err != nil {
		return lease{}, tries, err
	}
	l := lease{ip: ack.YourIPAddr, server: ack.ServerIPAddr, bootFile: strings.TrimRight(ack.BootFileName, "\x00")}
	if o := ack.Options.Get(dhcpv4.OptionBootfileName); o != nil {
		l.bootFile = strings.TrimRight(string(o), "\x00")
	}
	if l.server == nil || l.server.IsUnspecified() {
		l.server = ack.ServerIdentifier()
	}
	return l, tries, nil
}
