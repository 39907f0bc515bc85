package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenConfig says where Listen binds.
type ListenConfig struct {
	// Interface restricts the socket to one interface (SO_BINDTODEVICE);
	// empty listens on all.
	Interface string
	// Port is the UDP port: the server's dhcp_port (67), or ProxyPort.
	Port int
	// Shared sets SO_REUSEADDR so the port can be shared with another DHCP
	// server on the same host that sets it too (ProxyDHCP next to the
	// site's server). Without it a busy port is an error.
	Shared bool
	// ReadBuffer is the socket receive buffer in bytes (default 4 MiB), so
	// a burst of requests (a rack powering on) or a scheduling hiccup
	// queues instead of being dropped. Set with SO_RCVBUFFORCE when
	// privileged, else SO_RCVBUF (capped by net.core.rmem_max).
	ReadBuffer int
}

// DefaultReadBuffer is ListenConfig.ReadBuffer's default.
const DefaultReadBuffer = 4 << 20

// Listen binds 0.0.0.0:Port with SO_BROADCAST (and SO_BINDTODEVICE,
// SO_REUSEADDR as configured) for Serve. A port in use is an error that
// names it and the setting that changes it.
func Listen(ctx context.Context, c ListenConfig) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, raw syscall.RawConn) error {
		var serr error
		err := raw.Control(func(fd uintptr) {
			rb := c.ReadBuffer
			if rb <= 0 {
				rb = DefaultReadBuffer
			}
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rb) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rb) // best effort
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			if serr == nil && c.Shared {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}
			if serr == nil && c.Interface != "" {
				serr = unix.BindToDevice(int(fd), c.Interface)
				if serr != nil {
					serr = fmt.Errorf("binding to interface %s: %w", c.Interface, serr)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(c.Port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			setting := "dhcp_port in the server block"
			if c.Port == ProxyPort {
				setting = "the other server using it (PXE port 4011 is fixed)"
			}
			return nil, fmt.Errorf("DHCP: UDP port %d is already in use (another DHCP server?); stop it or change %s: %w", c.Port, setting, err)
		}
		return nil, fmt.Errorf("DHCP: listening on UDP port %d: %w", c.Port, err)
	}
	return conn, nil
}
