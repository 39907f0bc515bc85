package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/dhcp"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/tftp"
	"github.com/gitboot/gitboot/internal/tlsca"
)

// services runs the boot services on sockets chosen by the served
// snapshot's server settings (and the --listen flags), and rebinds a
// service whose address, port, interface or mode a new snapshot changes.
type services struct {
	log        *slog.Logger
	parent     context.Context
	listenHTTP string
	listenTFTP string
	errc       chan error // a service that stopped on its own

	http    *httpboot.Handler
	tftp    *tftp.Server
	newDHCP func() (*dhcp.Server, error)
	dhcp    *dhcp.Server

	// agentTLS is the certificate material of the agents' HTTPS
	// listener ("https", agenttls.go); nil: it does not run.
	agentTLS *tlsca.Bundle

	mu    sync.Mutex
	slots map[string]*slot
	wg    sync.WaitGroup
}

// slot is one service running on its sockets.
type slot struct {
	key     string
	cancel  context.CancelFunc
	done    chan struct{}
	closers []io.Closer
	addrs   []string
}

var slotNames = []string{"http", "https", "tftp", "dhcp", "ra"}

// keyOf returns what a service's sockets depend on; "" means the service
// does not run.
func (s *services) keyOf(name string, snap *bootsvc.Snapshot) string {
	srv := &snap.Server
	dhcpOn := srv.DHCPMode != bootsvc.DHCPOff
	switch name {
	case "http":
		if s.listenHTTP != "" {
			return s.listenHTTP
		}
		return ":" + strconv.Itoa(srv.HTTPPort)
	case "https":
		return s.httpsKey(srv)
	case "tftp":
		if s.listenTFTP != "" {
			return s.listenTFTP
		}
		return ":" + strconv.Itoa(srv.TFTPPort)
	case "dhcp":
		if !dhcpOn {
			return ""
		}
		return fmt.Sprintf("%s|%d|%s", srv.DHCPMode, srv.DHCPPort, srv.Interface)
	case "ra":
		if !dhcpOn || !srv.RouterAdvert {
			return ""
		}
		return strings.Join(raInterfaces(snap), ",")
	}
	return ""
}

// Start binds every service's sockets for snap (all or none) and starts
// serving it.
func (s *services) Start(snap *bootsvc.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.update(snap)
	for _, name := range slotNames {
		sl, err := s.start(name, snap)
		if err != nil {
			for _, n := range slotNames {
				if old := s.slots[n]; old != nil {
					s.stop(old)
					delete(s.slots, n)
				}
			}
			return err
		}
		s.slots[name] = sl
	}
	return nil
}

// Publish swaps snap in. Services whose sockets it changes are rebound
// first; if one cannot be bound, the changed services go back to their
// old sockets, the old snapshot stays served and the error is returned,
// so a snapshot whose URLs name a port nobody listens on is never
// published. HTTP and TFTP bind their new port while the old one still
// serves, so a failed move leaves them untouched, and the old port is
// drained in the background (requests in flight, POST /apply among them,
// finish without holding up the swap).
func (s *services) Publish(snap *bootsvc.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var done []rebind
	for _, name := range slotNames {
		old := s.slots[name]
		key := s.keyOf(name, snap)
		if (old == nil && key == "") || (old != nil && old.key == key) {
			continue
		}
		c := rebind{name: name, old: old}
		if old != nil && !bindsFirst(name) {
			s.stop(old)
			s.slots[name] = nil
			c.stopped = true
		}
		sl, err := s.start(name, snap)
		done = append(done, c)
		if err != nil {
			s.rollback(done)
			return fmt.Errorf("rebinding %s: %w", name, err)
		}
		done[len(done)-1].cur = sl
		s.slots[name] = sl
	}
	s.update(snap)
	for _, c := range done {
		if c.cur != nil {
			s.log.Info("service rebound", "service", c.name, "addrs", strings.Join(c.cur.addrs, ","))
		} else {
			s.log.Info("service stopped", "service", c.name)
		}
		if c.old != nil && !c.stopped {
			s.retire(c.old)
		}
	}
	return nil
}

// bindsFirst reports whether a service's new sockets are bound while its
// old ones still serve. A changed HTTP or TFTP key is another port, so
// both can be open at once; DHCP and RA may keep the port (or interface)
// and are stopped before they are bound again.
func bindsFirst(name string) bool { return name == "http" || name == "tftp" }

// rollback undoes a Publish's rebinds, newest first: new sockets are
// closed, services stopped for the move start again on their old sockets
// with the snapshot still served.
func (s *services) rollback(done []rebind) {
	for i := len(done) - 1; i >= 0; i-- {
		c := done[i]
		s.stop(c.cur)
		s.slots[c.name] = c.old
		if !c.stopped {
			continue
		}
		s.slots[c.name] = nil
		back, err := s.restart(c.name, c.old.key)
		if err != nil {
			s.log.Error("could not go back to the previous sockets", "service", c.name, "err", err)
			continue
		}
		s.slots[c.name] = back
	}
}

// rebind is one service's move in a Publish.
type rebind struct {
	name     string
	old, cur *slot // cur is nil when the service no longer runs
	stopped  bool  // old was stopped before cur was bound
}

// retire stops a replaced slot in the background: its requests in flight
// finish (up to the HTTP shutdown timeout) without holding up the swap;
// Wait waits for it.
func (s *services) retire(sl *slot) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.stop(sl)
	}()
}

// restart starts a service again on the sockets of key, with the
// snapshot currently served.
func (s *services) restart(name, key string) (*slot, error) {
	snap := s.http.Snapshot()
	if snap == nil || s.keyOf(name, snap) != key {
		return nil, errors.New("the served snapshot does not match the previous sockets")
	}
	return s.start(name, snap)
}

func (s *services) update(snap *bootsvc.Snapshot) {
	s.http.Update(snap)
	s.tftp.Update(snap)
	if s.dhcp != nil {
		s.dhcp.Update(snap)
	}
}

// start binds one service's sockets for snap and serves them; nil when
// the service does not run for snap.
func (s *services) start(name string, snap *bootsvc.Snapshot) (*slot, error) {
	key := s.keyOf(name, snap)
	if key == "" {
		return nil, nil
	}
	sl := &slot{key: key, done: make(chan struct{})}
	var serve []func(ctx context.Context) error
	var err error
	switch name {
	case "http":
		serve, err = s.bindHTTP(sl, key)
	case "https":
		serve, err = s.bindHTTPS(sl, &snap.Server)
	case "tftp":
		serve, err = s.bindTFTP(sl, &snap.Server)
	case "dhcp":
		serve, err = s.bindDHCP(sl, snap)
	case "ra":
		serve = s.bindRA(sl, key)
	}
	if err != nil {
		for _, c := range sl.closers {
			c.Close()
		}
		return nil, err
	}
	s.serve(name, sl, serve)
	return sl, nil
}

// bindHTTP listens on key (an address) for HTTP.
func (s *services) bindHTTP(sl *slot, key string) ([]func(ctx context.Context) error, error) {
	ln, err := net.Listen("tcp", key)
	if err != nil {
		return nil, fmt.Errorf("HTTP on %s: %w (change http_port in the server block or use --listen-http)", key, err)
	}
	sl.closers = append(sl.closers, ln)
	sl.addrs = append(sl.addrs, ln.Addr().String())
	return []func(ctx context.Context) error{func(ctx context.Context) error { return s.http.Serve(ctx, ln) }}, nil
}

// bindTFTP listens on --listen-tftp, else on the server's tftp_port.
func (s *services) bindTFTP(sl *slot, srv *bootsvc.Server) ([]func(ctx context.Context) error, error) {
	ap := netip.AddrPortFrom(netip.Addr{}, uint16(srv.TFTPPort))
	if s.listenTFTP != "" {
		var err error
		if ap, err = netip.ParseAddrPort(s.listenTFTP); err != nil {
			return nil, fmt.Errorf("--listen-tftp %q: %w", s.listenTFTP, err)
		}
	}
	c, err := tftp.Listen(ap)
	if err != nil {
		return nil, err
	}
	sl.closers = append(sl.closers, c)
	sl.addrs = append(sl.addrs, c.LocalAddr().String())
	return []func(ctx context.Context) error{func(ctx context.Context) error { return s.tftp.Serve(ctx, c) }}, nil
}

// bindDHCP listens on the server's DHCP port (and, in proxy mode, the
// proxy port), making the DHCP server the first time.
func (s *services) bindDHCP(sl *slot, snap *bootsvc.Snapshot) ([]func(ctx context.Context) error, error) {
	srv := &snap.Server
	if s.dhcp == nil {
		d, err := s.newDHCP()
		if err != nil {
			return nil, err
		}
		s.dhcp = d
		d.Update(snap)
	}
	ports := []int{srv.DHCPPort}
	if srv.DHCPMode == bootsvc.DHCPProxy {
		ports = append(ports, dhcp.ProxyPort)
	}
	var serve []func(ctx context.Context) error
	for _, p := range ports {
		c, err := dhcp.Listen(s.parent, dhcp.ListenConfig{Interface: srv.Interface, Port: p, Shared: srv.DHCPMode == bootsvc.DHCPProxy})
		if err != nil {
			return nil, err
		}
		sl.closers = append(sl.closers, c)
		sl.addrs = append(sl.addrs, c.LocalAddr().String())
		d := s.dhcp
		serve = append(serve, func(ctx context.Context) error { return d.Serve(ctx, c) })
	}
	return serve, nil
}

// bindRA opens router advertisements on each interface of key (comma
// separated); one that cannot be opened is logged and skipped.
func (s *services) bindRA(sl *slot, key string) []func(ctx context.Context) error {
	var serve []func(ctx context.Context) error
	for _, ifname := range strings.Split(key, ",") {
		if ifname == "" {
			continue
		}
		c, err := dhcp.ListenRA(ifname)
		if err != nil {
			s.log.Warn("no IPv6 router advertisements: iPXE will wait ~16 s for IPv6 on every boot", "interface", ifname, "err", err)
			continue
		}
		sl.closers = append(sl.closers, c)
		sl.addrs = append(sl.addrs, ifname)
		serve = append(serve, func(ctx context.Context) error {
			return dhcp.ServeRA(ctx, dhcp.RAConfig{Interface: ifname, Logger: s.log}, c)
		})
	}
	return serve
}

// serve runs a slot's serve functions until the slot is stopped; one that
// fails on its own is reported on errc.
func (s *services) serve(name string, sl *slot, serve []func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(s.parent)
	sl.cancel = cancel
	var wg sync.WaitGroup
	for _, f := range serve {
		wg.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				select {
				case s.errc <- fmt.Errorf("%s: %w", name, err):
				default:
				}
			}
		}()
	}
	go func() { wg.Wait(); close(sl.done) }()
}

// stop stops a service's goroutines and closes its sockets.
func (s *services) stop(sl *slot) {
	if sl == nil {
		return
	}
	sl.cancel()
	<-sl.done
	for _, c := range sl.closers {
		c.Close()
	}
}

// Addrs returns the addresses a service listens on.
func (s *services) Addrs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl := s.slots[name]; sl != nil {
		return sl.addrs
	}
	return nil
}

// Wait stops every service after ctx is done and waits for them.
func (s *services) Wait() {
	s.mu.Lock()
	for _, sl := range s.slots {
		s.stop(sl)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// raInterfaces returns the interfaces to send IPv6 router advertisements
// on: the server's DHCP interface when it names one, else every interface
// with an IPv4 address inside a served network.
func raInterfaces(snap *bootsvc.Snapshot) []string {
	if snap.Server.Interface != "" {
		return []string{snap.Server.Interface}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			if _, served := snap.NetworkContaining(ip.Unmap()); served {
				out = append(out, ifi.Name)
				break
			}
		}
	}
	return out
}
