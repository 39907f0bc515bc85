// Package tftp is gitboot's built-in, read-only TFTP server: it sends the
// iPXE binaries (undionly.kpxe, ipxe.efi, snponly.efi, arm64/snponly.efi)
// that node firmware fetches after DHCP, from the server's ipxe_dir.
//
// It is fed a *bootsvc.Snapshot through Update (swapped atomically; nothing
// on the request path parses or locks), records a status.StageTFTP event
// per transfer as its last block goes out, and refuses writes and every name that is not
// one of those binaries (nothing else in the directory is served). The daemon (cmd/gitboot serve) imports it; it never imports
// hclspec or reconcile. The protocol is its own (wire.go, listen.go,
// transfer.go, loop.go): RFC 1350 with the blksize, tsize and timeout
// options (RFC 2347-2349); one connected socket per transfer, every
// transfer's blocks sent by one event loop (epoll, a heap of resend
// deadlines), packet buffers pooled, boot files sent from memory, no
// lookup per request beyond a cached interface MTU.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/ratelog"
)

// Defaults for Config.
const (
	DefaultTimeout = time.Second
	DefaultRetries = 5
	// DefaultMaxTransfers is far above what one rack booting at once needs,
	// and far below the file descriptors a spoofed request flood could
	// otherwise pin.
	DefaultMaxTransfers = 4096
)

// Config configures a Server. The zero value works.
type Config struct {
	// Recorder receives a StageTFTP event per transfer whose last block
	// went out (as it goes, before the client can move on), and
	// NOT_FOUND / DENIED events for refused requests from declared nodes.
	// Nil: status.Discard.
	Recorder status.Recorder
	// Log receives transfer and refusal lines. Nil: slog.Default().
	Log *slog.Logger
	// Timeout is how long a block waits for its ACK before it is sent
	// again. Zero: DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times one block is sent again before the
	// transfer is given up. Zero: DefaultRetries.
	Retries int
	// MaxBlockSize caps the blksize a client may negotiate (512..65464).
	// Zero: only the receiving interface's MTU caps it.
	MaxBlockSize int
	// MaxTransfers bounds the transfers running at once (each holds a
	// socket and a file); a request beyond it gets a "busy" TFTP error and
	// the client retries. Zero: DefaultMaxTransfers.
	MaxTransfers int
	// MaxPerClient bounds the transfers one client address runs at once,
	// so that one host (a flood of RRQs) cannot hold every transfer slot;
	// a request beyond it gets a TFTP error at once, before any file is
	// opened. Zero: DefaultMaxPerClient.
	MaxPerClient int
	// Metrics counts transfers by result ("ok", "aborted") and bytes sent,
	// for GET /metrics; nil counts nothing. (bootsvc/metrics.Metrics implements it.)
	Metrics interface {
		TFTPTransfer(result string, bytes int64)
	}
}

// Server is a read-only TFTP server. Create it with New, give it a snapshot
// with Update, and run it with Serve. It is safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	rec status.Recorder
	cur atomic.Pointer[tree]
	// bad logs refused requests and bad packets at a bounded rate.
	bad      *ratelog.Logger
	clients  *clientSlots
	inflight *inflight

	running atomic.Int64 // transfers in progress, for MaxTransfers

	// Counters, for logs and tests.
	transfers   atomic.Int64
	retransmits atomic.Int64 // retransmitted RRQs ignored
	resent      atomic.Int64 // packets of finished transfers sent again after a timeout
	refused     atomic.Int64
	badPkts     atomic.Int64
}

// New returns a Server that refuses every request until Update is called.
func New(cfg Config) *Server {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retries <= 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.MaxTransfers <= 0 {
		cfg.MaxTransfers = DefaultMaxTransfers
	}
	if cfg.MaxPerClient <= 0 {
		cfg.MaxPerClient = DefaultMaxPerClient
	}
	s := &Server{cfg: cfg, log: cfg.Log, rec: cfg.Recorder}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.rec == nil {
		s.rec = status.Discard{}
	}
	s.bad = ratelog.New(s.log, 0, 0)
	s.clients = newClientSlots(cfg.MaxPerClient)
	s.inflight = newInflight(cfg.MaxTransfers)
	return s
}

// Update makes snap the served snapshot: its Server.IPXEDir becomes the root
// and the boot binaries it names are resolved now; the files they resolve
// to are logged at the first Update and when they change. Transfers
// already running finish with the file they opened.
func (s *Server) Update(snap *bootsvc.Snapshot) {
	t := newTree(snap, s.log)
	if prev := s.cur.Swap(t); prev == nil || prev.dir != t.dir || prev.resolved() != t.resolved() {
		s.log.Info("tftp: serving only these boot files", "root", t.dir, "files", t.resolved())
	}
	s.log.Debug("tftp: snapshot loaded", "root", t.dir, "boot_files", len(t.boot))
}

// Serve answers TFTP requests arriving on conn (already bound; see Listen)
// until ctx is cancelled, then stops taking requests, aborts running
// transfers at their next block, waits for them and returns nil (a client
// that stopped answering holds it at most Timeout x (Retries+1)). Serve owns
// conn and closes it. Each transfer has its own socket; one loop sends
// every transfer's blocks (see loop).
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	if conn == nil {
		return errors.New("tftp: serve: nil connection")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l, err := newListener(conn)
	if err != nil {
		conn.Close()
		return fmt.Errorf("tftp: serving %s: %w", conn.LocalAddr(), err)
	}
	lp, err := newLoop(ctx)
	if err != nil {
		l.close()
		return fmt.Errorf("tftp: serving %s: %w", conn.LocalAddr(), err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close(); lp.stop() })
	defer stop()
	s.log.Info("tftp: serving", "addr", conn.LocalAddr().String())
	var wg sync.WaitGroup
	buf := make([]byte, requestBuffer)
	for {
		in, err := l.read(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				cancel()
				lp.stop()
				wg.Wait()
				lp.close()
				l.close()
				return fmt.Errorf("tftp: serving %s: %w", conn.LocalAddr(), err)
			}
			break
		}
		s.take(ctx, &wg, l, lp, in, buf[:in.n])
	}
	lp.stop()
	wg.Wait()
	lp.close()
	l.close()
	s.log.Info("tftp: stopped", "addr", conn.LocalAddr().String(),
		"transfers", s.transfers.Load(), "resent_packets", s.resent.Load(), "retransmits_ignored", s.retransmits.Load(), "refused", s.refused.Load(), "bad_packets", s.badPkts.Load())
	return nil
}

// take handles one datagram on the listening socket: a read request
// starts a transfer, a write request is refused, anything else is a bad
// packet (logged at a bounded rate, never answered).
func (s *Server) take(ctx context.Context, wg *sync.WaitGroup, l *listener, lp *loop, in inbound, p []byte) {
	req, err := parseRequest(p)
	if err != nil {
		s.badPkts.Add(1)
		s.warnf("tftp: bad packet ignored", "client", in.from, "bytes", len(p), "err", err)
		return
	}
	if req.op == opWRQ {
		s.refuse(s.cur.Load(), in.from.Addr(), req.file, errReadOnly)
		l.refuse(in, errReadOnly)
		return
	}
	maxBlock := in.maxBlock(l.v6)
	if s.cfg.MaxBlockSize > 0 {
		maxBlock = min(maxBlock, max(s.cfg.MaxBlockSize, defaultBlockSize))
	}
	wg.Add(1)
	go func() {
		started, err := s.serveRead(ctx, lp, req, in, maxBlock, wg.Done)
		if err != nil {
			l.refuse(in, err)
		}
		if !started {
			wg.Done()
		}
	}()
}

// Listen binds the UDP socket Serve takes. An invalid address means all
// IPv4 addresses. A port in use is an error naming the port and the
// tftp_port setting that changes it.
func Listen(addr netip.AddrPort) (*net.UDPConn, error) {
	if !addr.Addr().IsValid() {
		addr = netip.AddrPortFrom(netip.IPv4Unspecified(), addr.Port())
	}
	network := "udp4" // not a dual-stack socket for 0.0.0.0
	if addr.Addr().Is6() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	switch {
	case err == nil:
		// Room for a burst of requests when a rack boots at once; the
		// kernel caps it at net.core.rmem_max.
		_ = conn.SetReadBuffer(4 << 20)
		if err := enablePktInfo(conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tftp: listening on %s: %w", addr, err)
		}
		return conn, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("tftp: UDP port %d on %s is already in use (another TFTP server, such as tftpd-hpa or dnsmasq, running?): stop it or set tftp_port in the server block: %w",
			addr.Port(), addr.Addr(), err)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("tftp: binding UDP port %d needs root or CAP_NET_BIND_SERVICE (or set tftp_port above 1023 in the server block): %w",
			addr.Port(), err)
	default:
		return nil, fmt.Errorf("tftp: listening on %s: %w", addr, err)
	}
}

// serveRead serves one read request: resolve and open the file, and hand
// the transfer to the loop, which sends it from its own socket; its end
// is logged and counted by ended. It reports started when the loop has
// the transfer (done is called once it has ended); an error it returns
// is a refusal the caller sends from the refusal socket.
func (s *Server) serveRead(ctx context.Context, lp *loop, req rq, in inbound, maxBlock int, done func()) (started bool, err error) {
	from, client, name := in.from, in.from.Addr(), req.file
	h := &held{s: s, key: transferKey{from: from, file: name}, client: client}
	for {
		r, dup := s.inflight.begin(h.key)
		if !dup {
			h.cur = r
			break
		}
		if !s.inflight.await(ctx, r) {
			s.retransmits.Add(1)
			s.log.Debug("tftp: retransmitted request ignored", "file", truncate(name, 80), "client", from)
			return false, nil
		}
	}
	defer func() {
		if !started {
			h.release(false)
		}
	}()
	// The client's own share first, so a flooding host is refused
	// without touching the slots everyone shares.
	if h.slot = s.clients.acquire(client); !h.slot {
		s.refuse(s.cur.Load(), client, name, errClientBusy)
		return false, errClientBusy
	}
	if h.run = s.running.Add(1) <= int64(s.cfg.MaxTransfers); !h.run {
		s.running.Add(-1)
		s.refuse(s.cur.Load(), client, name, errBusy)
		return false, errBusy
	}
	t := s.cur.Load()
	if t == nil {
		s.refuse(nil, client, name, errNoConfig)
		return false, errNoConfig
	}
	f, rel, err := t.open(name)
	if err != nil {
		s.refuse(t, client, name, err)
		return false, err
	}
	h.f = f
	src, err := t.source(f, req.netascii())
	if err != nil {
		s.refuse(t, client, name, err)
		return false, err
	}
	fd, err := dialClient(in)
	if err != nil {
		s.warnf("tftp: no socket for a transfer", "file", rel, "client", client, "err", err)
		return false, nil
	}
	neg := req.negotiate(src.size, maxBlock)
	timeout := s.cfg.Timeout
	if neg.timeout > 0 {
		timeout = time.Duration(neg.timeout) * time.Second
	}
	start := time.Now()
	node, mac := lookup(t.snap, client)
	x := &xfer{fd: fd, src: src, neg: neg, timeout: timeout, retries: s.cfg.Retries, acked: h.cur.ack,
		// Recorded by the loop as the last block goes out: the client
		// goes on to iPXE's DHCP and HTTP at once, and a TFTP stage
		// recorded after those would put a booted node back at TFTP.
		onSent: func() {
			s.rec.Record(status.Event{Node: node, MAC: mac, Stage: status.StageTFTP, Sent: rel, Addr: client})
		}}
	x.onEnd = func(n int64, err error) {
		// Logging may block on its writer: not in the loop.
		go func() {
			s.ended(rel, client, node, n, err, x.resent, time.Since(start))
			h.release(err == nil)
			done()
		}()
	}
	lp.start(x)
	return true, nil
}

// held is what a request holds while its transfer runs.
type held struct {
	s      *Server
	key    transferKey
	cur    *running
	client netip.Addr
	slot   bool // one of the client's MaxPerClient
	run    bool // one of MaxTransfers
	f      *os.File
}

// release gives back what h holds; sent: the whole file went out.
func (h *held) release(sent bool) {
	if h.f != nil {
		h.f.Close()
	}
	if h.run {
		h.s.running.Add(-1)
	}
	if h.slot {
		h.s.clients.release(h.client)
	}
	h.s.inflight.end(h.key, h.cur, sent)
}

// ended logs and counts a transfer that has ended (err nil: the client
// acknowledged the whole file, n bytes).
func (s *Server) ended(rel string, client netip.Addr, node string, n int64, err error, resent int, took time.Duration) {
	if err != nil {
		var ce *clientError
		if n == 0 && errors.As(err, &ce) && ce.block == 0 {
			// The client ended it after the option ack: PXE ROMs ask
			// for tsize this way, then ask again for the file.
			s.log.Debug("tftp: option probe ended by the client", "file", rel, "client", client, "node", node, "err", err)
			return
		}
		s.warnf("tftp: transfer aborted", "file", rel, "client", client, "node", node, "sent_bytes", n, "err", err)
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.TFTPTransfer("aborted", n)
		}
		return
	}
	s.transfers.Add(1)
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.TFTPTransfer("ok", n)
	}
	s.resent.Add(int64(resent))
	s.log.Info("tftp: sent", "file", rel, "client", client, "node", node, "bytes", n,
		"duration", took.Round(time.Millisecond), "resent", resent)
}

// refuse logs a refused request (rate-limited) and records it for a
// declared node: NOT_FOUND, BAD_REQUEST or DENIED.
func (s *Server) refuse(t *tree, client netip.Addr, name string, why error) {
	s.refused.Add(1)
	var snap *bootsvc.Snapshot
	if t != nil {
		snap = t.snap
	}
	node, mac := lookup(snap, client)
	s.warnf("tftp: request refused", "file", truncate(name, 80), "client", client, "node", node, "reason", why.Error())
	var stage status.Stage
	switch why {
	case errNotFound, errIsDir:
		stage = status.StageNotFound
	case errBadName, errNameTooLong:
		stage = status.StageBadRequest
	case errBusy, errClientBusy, errNoConfig:
		return // transient: the client retries, nothing to show
	default:
		stage = status.StageDenied
	}
	if node == "" {
		return
	}
	s.rec.Record(status.Event{Node: node, MAC: mac, Stage: stage, Sent: truncate(name, 80), Addr: client})
}

// warnf logs at warning level at a bounded rate (internal/ratelog), so a
// flood of bad packets cannot flood the log; the next line written counts
// the ones dropped.
func (s *Server) warnf(msg string, args ...any) { s.bad.Warn(msg, args...) }

// lookup names the declared node that has the client's address.
func lookup(snap *bootsvc.Snapshot, client netip.Addr) (node, mac string) {
	if !client.IsValid() {
		return "", ""
	}
	n, ok := snap.NodeByIP(client)
	if !ok {
		return "", ""
	}
	return n.Name, n.MAC
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// enablePktInfo makes the kernel tell, for every datagram from now on, the
// address and interface it came in on: the transfer answers from that
// address, with blocks as large as that interface's MTU allows.
func enablePktInfo(conn net.PacketConn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	v6 := false
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok && ua.IP.To4() == nil {
		v6 = true
	}
	err = raw.Control(func(fd uintptr) {
		if v6 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
