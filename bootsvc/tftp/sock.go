package tftp

import (
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// dialClient opens a transfer's socket for the loop (non-blocking, not in
// Go's poller): from the address the request came to (any address when
// unknown), a port of its own, connected to the client (the kernel drops
// other senders' packets, and a closed client port ends the transfer at
// once).
func dialClient(in inbound) (int, error) {
	v6 := in.from.Addr().Is6()
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if in.local.IsValid() {
		if err := unix.Bind(fd, sockaddr(in.local.As16(), in.local.Is4(), 0, in.local.Zone())); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("binding %s: %w", in.local, err)
		}
	}
	to := in.from.Addr()
	if err := unix.Connect(fd, sockaddr(to.As16(), to.Is4(), int(in.from.Port()), to.Zone())); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connecting to %s: %w", in.from, err)
	}
	return fd, nil
}

// sockaddr is the address a16 (an IPv4 address when is4), port and zone
// as the socket calls take it.
func sockaddr(a16 [16]byte, is4 bool, port int, zone string) unix.Sockaddr {
	if is4 {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], a16[12:])
		return sa
	}
	sa := &unix.SockaddrInet6{Port: port, Addr: a16}
	if zone != "" {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if i, err := strconv.ParseUint(zone, 10, 32); err == nil {
			sa.ZoneId = uint32(i)
		}
	}
	return sa
}
