package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/ratelog"
	"github.com/gitboot/gitboot/internal/statefile"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Config configures a Server.
type Config struct {
	// StateDir holds the dynamic lease file; empty keeps leases in memory.
	StateDir string
	// Metrics counts replies by message type ("offer", "ack", "nak") for
	// GET /metrics; nil counts nothing. (bootsvc/metrics.Metrics implements it.)
	Metrics interface{ DHCPReply(msgType string) }
	// Recorder receives a DHCP stage event for every answer to a node's
	// boot firmware or iPXE (Decision.Boot), an Alive event for every
	// request of a node's own OS (answered or not: it refreshes LASTSEEN
	// and keeps the stage) and, at most once a minute per MAC, an event
	// for unknown MACs. Nil discards them.
	Recorder status.Recorder
	// Logger is where the server logs; nil uses slog.Default(). Lines
	// about unknown and bad requests (malformed packets, unknown MACs,
	// requests from unserved segments, refusals) are rate-limited
	// (internal/ratelog): a flood of them writes a burst, then about one
	// a second, each counting the lines dropped before it.
	Logger *slog.Logger
	// Workers is the number of goroutines reading each socket; 0 means
	// GOMAXPROCS.
	Workers int
	// UnknownInterval is how often one unknown MAC is logged and recorded
	// (default one minute); UnknownMax caps how many MACs are remembered
	// for that (default 4096).
	UnknownInterval time.Duration
	UnknownMax      int
	// Admission, if not nil, bounds the boots in flight: a boot
	// firmware's DISCOVER beyond its limit waits (see Admission). Serve
	// consults it; Handle does not hold requests but counts boots.
	Admission *Admission
	// Seen, if not nil, learns the address of every declared node's
	// answered exchange (or its OS's renewal), for the HTTP boot
	// service's own-address check.
	Seen *Seen
}

// Stats counts what the server did since it started.
type Stats struct {
	Received   uint64 // datagrams read
	Malformed  uint64 // datagrams that did not decode
	Offers     uint64
	Acks       uint64
	Naks       uint64
	Ignored    uint64 // decoded requests left unanswered
	Unknown    uint64 // requests from MACs that are not declared nodes
	Unserved   uint64 // requests from an unserved segment or relay address (Decision.Unserved)
	Suppressed uint64 // unknown-MAC reports dropped because the table was full
	SendErrors uint64
}

// Server is the DHCP server. Create it with New, feed it snapshots with
// Update and run Serve on one or more sockets.
type Server struct {
	cfg     Config
	log     *slog.Logger
	rec     status.Recorder
	snap    atomic.Pointer[bootsvc.Snapshot]
	leases  *Leases
	unknown *unknownMACs
	// bad logs unknown and bad requests at a bounded rate.
	bad *ratelog.Logger

	received, malformed, offers, acks, naks, ignored, unknownN, unserved, sendErrors atomic.Uint64
}

// New creates a server and loads the dynamic leases from cfg.StateDir.
// It answers nothing until the first Update.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	leases, err := OpenLeases(cfg.StateDir)
	if statefile.SetAside(cfg.Logger, err, "starting with no dynamic leases (declared nodes' addresses are static)") {
		leases, err = OpenLeases(cfg.StateDir)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Recorder == nil {
		cfg.Recorder = status.Discard{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.UnknownInterval <= 0 {
		cfg.UnknownInterval = time.Minute
	}
	if cfg.UnknownMax <= 0 {
		cfg.UnknownMax = 4096
	}
	log := cfg.Logger.With("svc", "dhcp")
	return &Server{
		cfg: cfg, log: log, rec: cfg.Recorder, leases: leases,
		unknown: newUnknownMACs(cfg.UnknownInterval, cfg.UnknownMax),
		bad:     ratelog.New(log, 0, 0),
	}, nil
}

// Update swaps in a new snapshot; requests already being answered finish
// with the old one.
func (s *Server) Update(snap *bootsvc.Snapshot) {
	if s.cfg.Admission != nil && snap != nil {
		s.cfg.Admission.setSecureRuntime(snap.Server.SecureRuntime)
	}
	s.snap.Store(snap)
}

// Leases returns the dynamic lease pool.
func (s *Server) Leases() *Leases { return s.leases }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.unknown.mu.Lock()
	sup := s.unknown.suppressed
	s.unknown.mu.Unlock()
	return Stats{
		Received: s.received.Load(), Malformed: s.malformed.Load(), Offers: s.offers.Load(),
		Acks: s.acks.Load(), Naks: s.naks.Load(), Ignored: s.ignored.Load(),
		Unknown: s.unknownN.Load(), Unserved: s.unserved.Load(), Suppressed: sup, SendErrors: s.sendErrors.Load(),
	}
}

// Handle decodes one datagram and decides the answer, updating counters,
// logs, leases and status. It never panics on any input; the socket loop
// sends the reply it returns.
func (s *Server) Handle(pkt []byte, m Meta) Decision {
	s.received.Add(1)
	return s.handle(pkt, m, nil)
}

// handle is Handle; a request that arrived on a socket (from, not nil)
// may be held by the admission gate, to be answered later through from.
// The caller counts the datagram: a held DISCOVER decided again when it
// is released is not a second one.
func (s *Server) handle(pkt []byte, m Meta, from *arrival) Decision {
	if m.Now.IsZero() {
		m.Now = time.Now()
	}
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		s.malformed.Add(1)
		s.bad.Debug("malformed request", "from", m.Src, "len", len(pkt), "err", err)
		return Decision{Reason: "malformed: " + err.Error()}
	}
	snap := s.snap.Load()
	d := Decide(snap, req, m, s.leases)
	if s.cfg.Admission != nil && !s.admit(snap, req, d, pkt, m, from) {
		return Decision{MAC: d.MAC, Node: d.Node, Boot: true, Reason: "held: too many boots in flight (--dhcp-max-booting)"}
	}
	s.cfg.Seen.learn(snap, d, req)
	s.account(d, m)
	return d
}

func (s *Server) account(d Decision, m Meta) {
	if d.Unserved {
		s.unserved.Add(1)
	}
	if d.Reply == nil {
		s.ignored.Add(1)
	} else {
		var kind string
		switch d.Reply.MessageType() {
		case dhcpv4.MessageTypeOffer:
			s.offers.Add(1)
			kind = "offer"
		case dhcpv4.MessageTypeAck:
			s.acks.Add(1)
			kind = "ack"
		case dhcpv4.MessageTypeNak:
			s.naks.Add(1)
			kind = "nak"
		}
		if s.cfg.Metrics != nil && kind != "" {
			s.cfg.Metrics.DHCPReply(kind)
		}
	}
	switch {
	case d.Node != nil && d.Reply != nil && d.Reply.MessageType() == dhcpv4.MessageTypeNak:
		if !d.Boot {
			s.rec.Record(status.Event{Node: d.Node.Name, MAC: d.MAC, Stage: status.StageDHCP, Addr: d.Addr, Time: m.Now, Alive: true})
		}
		s.bad.Info("refused", "node", d.Node.Name, "mac", d.MAC, "reason", d.Reason)
	case d.Node != nil && (d.Reply != nil || !d.Boot):
		// Only a PXE or iPXE client's DHCP starts a boot (stage DHCP); the
		// node's own OS renewing its lease, answered or not, shows it is
		// alive and leaves its stage alone (status.Event.Alive).
		s.rec.Record(status.Event{Node: d.Node.Name, MAC: d.MAC, Stage: status.StageDHCP, Addr: d.Addr, Time: m.Now, Alive: !d.Boot})
		if !s.log.Enabled(context.Background(), slog.LevelDebug) {
			return // the hot path: no log arguments built
		}
		if d.NoBootFile {
			s.bad.Debug("no boot file for the client's architecture (option 93): address only",
				"node", d.Node.Name, "mac", d.MAC, "arch", d.Arch)
		}
		s.log.Debug("answered", "node", d.Node.Name, "mac", d.MAC, "type", d.Reply.MessageType().String(),
			"addr", d.Addr, "boot", d.BootFile)
	case d.Unknown:
		s.unknownN.Add(1)
		if s.unknown.report(d.MAC, m.Now) {
			s.rec.Record(status.Event{MAC: d.MAC, Stage: status.StageDHCP, Addr: d.Addr, Time: m.Now})
			s.bad.Info("request from unknown MAC", "mac", d.MAC, "from", m.Src, "addr", d.Addr,
				"answered", d.Reply != nil, "note", d.Reason)
		}
		if d.NoBootFile {
			s.bad.Debug("no boot file for the client's architecture (option 93): address only", "mac", d.MAC, "arch", d.Arch)
		}
	case d.Reply == nil && d.Reason != "" && s.log.Enabled(context.Background(), slog.LevelDebug):
		s.bad.Debug("not answered", "mac", d.MAC, "from", m.Src, "iface", ifaceName(m.Iface), "reason", d.Reason)
	}
}

// Serve answers requests arriving on conn (bound to the DHCP port, or to
// ProxyPort in proxy mode) until ctx is done; it does not close conn.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	port := 0
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		port = ua.Port
	}
	setBroadcast(conn)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	// An unbound socket answers only requests that arrived on an
	// interface with an address in a served network (Meta.Iface, see
	// admit): one table of interfaces for all workers.
	var ifaces *ifaceTable
	if uc, ok := conn.(*net.UDPConn); ok && boundDevice(uc) == "" {
		var err error
		if ifaces, err = newIfaceTable(uc); err != nil {
			return fmt.Errorf("DHCP port %d: %w (set interface in the server block)", port, err)
		}
		defer ifaces.Close()
	}
	if s.cfg.Admission != nil {
		// Held DISCOVERs are answered from here while the socket is read.
		gctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.cfg.Admission.run(gctx)
		}()
		defer func() { cancel(); <-done }()
	}
	var wg sync.WaitGroup
	errc := make(chan error, s.cfg.Workers)
	for i := 0; i < s.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- s.loop(ctx, conn, port, ifaces)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// loop reads and answers requests; ifaces is set for a socket bound to no
// interface.
func (s *Server) loop(ctx context.Context, conn net.PacketConn, port int, ifaces *ifaceTable) error {
	buf := make([]byte, 4096)
	// A socket bound to a device (Listen with Interface) sends broadcasts
	// there. An unbound one learns each request's interface (IP_PKTINFO),
	// answers only as admit allows, and sends the reply out of the same
	// interface: a broadcast has no route.
	var pc *ipv4.PacketConn
	uc, _ := conn.(*net.UDPConn)
	if ifaces != nil {
		pc = ipv4.NewPacketConn(uc)
		if err := pc.SetControlMessage(ipv4.FlagInterface, true); err != nil {
			return fmt.Errorf("DHCP port %d: learning the interface of each request (IP_PKTINFO): %w (set interface in the server block)", port, err)
		}
	}
	r := arrival{conn: conn, pc: pc, uc: uc}
	for {
		var (
			n       int
			src     netip.AddrPort
			ifindex int
			err     error
		)
		switch {
		case pc != nil:
			var cm *ipv4.ControlMessage
			var from net.Addr
			n, cm, from, err = pc.ReadFrom(buf)
			if ua, ok := from.(*net.UDPAddr); ok {
				src = ua.AddrPort()
			}
			if cm != nil {
				ifindex = cm.IfIndex
			}
		case uc != nil: // no address allocations
			n, src, err = uc.ReadFromUDPAddrPort(buf)
		default:
			var from net.Addr
			n, from, err = conn.ReadFrom(buf)
			if ua, ok := from.(*net.UDPAddr); ok {
				src = ua.AddrPort()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return fmt.Errorf("reading DHCP port %d: %w", port, err)
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		m := Meta{LocalPort: port, Src: src}
		if ifaces != nil {
			m.Now = time.Now()
			// No control message (ifindex 0) finds no interface: the
			// request is not answered.
			m.Iface = ifaces.lookup(ifindex, m.Now)
		}
		r.ifindex = ifindex
		s.received.Add(1)
		d := s.handleSafe(buf[:n], m, &r)
		if d.Reply != nil {
			s.send(r, d)
		}
	}
}

// ifaceName names an arrival interface for logs ("" when not known).
func ifaceName(i *Iface) string {
	if i == nil {
		return ""
	}
	if i.Name == "" {
		return "#" + strconv.Itoa(i.Index)
	}
	return i.Name
}

// boundDevice returns the interface a socket is bound to (SO_BINDTODEVICE),
// or "".
func boundDevice(c syscall.Conn) string {
	rc, err := c.SyscallConn()
	if err != nil {
		return ""
	}
	var dev string
	_ = rc.Control(func(fd uintptr) {
		dev, _ = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
	})
	return dev
}

// handleSafe is Handle with a last-resort recover: a bug in decoding or
// deciding must cost one request, never the server.
func (s *Server) handleSafe(pkt []byte, m Meta, from *arrival) (d Decision) {
	defer func() {
		if r := recover(); r != nil {
			s.malformed.Add(1)
			s.log.Error("request handling panicked", "from", m.Src, "panic", r)
			d = Decision{}
		}
	}()
	return s.handle(pkt, m, from)
}

// setBroadcast enables SO_BROADCAST on conn when it is a real socket, so
// replies to clients without an address can be broadcast.
func setBroadcast(conn net.PacketConn) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	})
}
