package httpboot

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bootsvc/metrics"
	"github.com/gitboot/gitboot/internal/ratelog"
)

// sendChunk is how much one sendfile call may send before the write
// deadline is pushed forward again.
const sendChunk = 4 << 20

// parkMax is how long an accepted connection may wait for a slot before it
// is closed.
const parkMax = time.Minute

// ConnStats counts what the connection limits did since Serve started.
type ConnStats struct {
	Open    int    // connections being served
	Parked  int    // accepted, waiting for a slot
	Refused uint64 // closed at once with 503: over the client's share
	Reaped  uint64 // idle keep-alive connections closed early, near the cap
	Expired uint64 // parked too long and closed
}

// limitListener shares the server's connection slots fairly among client
// addresses:
//
//   - at most maxConns connections are served at a time;
//   - one client address holds at most perClient of them;
//   - the last reserve slots go only to addresses that hold none, so a new
//     client is served while others hold the rest;
//   - near the cap (fewer than reserve slots free), keep-alive connections
//     idle for idleShort are closed, so idle clients give their slots
//     back in seconds rather than after IdleTimeout.
//
// A connection that may not be served yet is parked: accepted, but not
// read until a slot is free for it (no goroutine, one file descriptor).
// Parked connections of one address are served in order; a connection
// parked for parkMax is closed. An address may park as many connections
// as it may hold; beyond that it is refused (503, closed at once) when it
// holds a slot it does not use (a keep-alive connection idle); otherwise
// it parks more, as far as the
// descriptors allow (maxConns + maxParked accepted sockets), after which
// new connections wait in the kernel's backlog, as without limits.
//
// Each served connection also gets a progress-based write deadline: a
// write must make progress within writeIdle, however long the whole
// response takes, so a 500 MB download on a slow link works and a client
// that stops reading is dropped.
type limitListener struct {
	net.Listener
	maxConns, perClient, reserve, maxParked int
	idleShort, writeIdle                    time.Duration
	metrics                                 *metrics.Metrics
	log                                     *ratelog.Logger

	fds   chan struct{} // one per accepted socket: open + parked + being refused
	ready chan net.Conn // admitted, for Accept
	errc  chan error    // the acceptor's final error
	done  chan struct{}
	once  sync.Once
	// acceptorDone is closed when acceptLoop has returned.
	acceptorDone chan struct{}

	mu       sync.Mutex
	open     map[*limitConn]struct{}
	perAddr  map[netip.Addr][]*limitConn // open connections per address
	parked   []*limitConn                // FIFO
	parkedBy map[netip.Addr]int

	refused, reaped, expired atomic.Uint64
	refusing                 chan struct{} // bounds goroutines writing 503s
}

type limitConfig struct {
	maxConns, perClient, reserve int
	idleShort, writeIdle         time.Duration
}

func newLimitListener(ln net.Listener, c limitConfig, m *metrics.Metrics, log *ratelog.Logger) *limitListener {
	l := &limitListener{
		Listener: ln, maxConns: c.maxConns, perClient: c.perClient, reserve: c.reserve, maxParked: c.maxConns,
		idleShort: c.idleShort, writeIdle: c.writeIdle, metrics: m, log: log,
		fds:   make(chan struct{}, 2*c.maxConns),
		ready: make(chan net.Conn, c.maxConns), errc: make(chan error, 1), done: make(chan struct{}),
		acceptorDone: make(chan struct{}),
		open:         map[*limitConn]struct{}{}, perAddr: map[netip.Addr][]*limitConn{}, parkedBy: map[netip.Addr]int{},
		refusing: make(chan struct{}, 64),
	}
	go l.acceptLoop()
	go l.sweepLoop()
	return l
}

// Accept returns the next connection that may be served.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case err := <-l.errc:
		l.errc <- err // every later Accept sees it too
		return nil, err
	}
}

// Close stops accepting and closes the parked connections; served ones
// are the http.Server's to close.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		close(l.done)
		<-l.acceptorDone
		l.mu.Lock()
		parked := l.parked
		l.parked, l.parkedBy = nil, map[netip.Addr]int{}
		l.mu.Unlock()
		for _, c := range parked {
			c.Conn.Close()
			<-l.fds
		}
		// Admitted but never taken by the server: nobody else closes them.
		for {
			select {
			case c := <-l.ready:
				c.Close()
			default:
				return
			}
		}
	})
	return err
}

// acceptLoop accepts sockets while there are descriptors to spare, and
// admits, parks or refuses each.
func (l *limitListener) acceptLoop() {
	defer close(l.acceptorDone)
	var backoff time.Duration
	for {
		select {
		case l.fds <- struct{}{}:
		case <-l.done:
			return
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.fds
			if errors.Is(err, net.ErrClosed) {
				l.errc <- err
				return
			}
			// Out of descriptors or the like: wait, as net/http would.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("http: accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		l.place(c)
	}
}

// admissibleLocked reports whether a connection from addr may be served
// now.
func (l *limitListener) admissibleLocked(addr netip.Addr) bool {
	n := len(l.open)
	held := len(l.perAddr[addr])
	return n < l.maxConns && held < l.perClient && (n < l.maxConns-l.reserve || held == 0)
}

// stalledLocked reports whether addr holds a slot it does not use: a
// keep-alive connection between requests. (A connection that sends
// nothing is not counted: a slow client looks the same, and
// ReadHeaderTimeout ends it.)
func (l *limitListener) stalledLocked(addr netip.Addr) bool {
	for _, c := range l.perAddr[addr] {
		if c.state.Load() == connIdle {
			return true
		}
	}
	return false
}

// place admits, parks or refuses a newly accepted socket.
func (l *limitListener) place(c net.Conn) {
	lc := &limitConn{Conn: c, l: l, addr: connAddr(c)}
	now := time.Now()
	l.mu.Lock()
	switch {
	case l.parkedBy[lc.addr] == 0 && l.admissibleLocked(lc.addr):
		l.admitLocked(lc)
		l.mu.Unlock()
		return
	case l.parkedBy[lc.addr] < l.perClient || !l.stalledLocked(lc.addr):
		// The descriptor semaphore bounds how many can park in all.
		lc.parkedAt = now
		l.parked = append(l.parked, lc)
		l.parkedBy[lc.addr]++
		l.mu.Unlock()
		return
	}
	held := len(l.perAddr[lc.addr])
	l.mu.Unlock()
	l.refused.Add(1)
	l.log.Warn("http: connection refused: too many from this address", "remote", c.RemoteAddr().String(),
		"open_from_address", held, "per_client", l.perClient)
	l.refuse(c)
}

// admitLocked hands lc to the server.
func (l *limitListener) admitLocked(lc *limitConn) {
	l.open[lc] = struct{}{}
	l.perAddr[lc.addr] = append(l.perAddr[lc.addr], lc)
	lc.state.Store(connNew)
	l.metrics.HTTPConnOpened()
	l.ready <- lc // room for maxConns: never blocks
}

// promoteLocked admits parked connections, oldest first (and, per
// address, strictly in order), while there are slots for them.
func (l *limitListener) promoteLocked() {
	if len(l.parked) == 0 {
		return
	}
	var blocked map[netip.Addr]bool
	kept := l.parked[:0]
	for i, c := range l.parked {
		if len(l.open) >= l.maxConns {
			kept = append(kept, l.parked[i:]...)
			break
		}
		if blocked[c.addr] || !l.admissibleLocked(c.addr) {
			if blocked == nil {
				blocked = map[netip.Addr]bool{}
			}
			blocked[c.addr] = true
			kept = append(kept, c)
			continue
		}
		l.unparkLocked(c)
		l.admitLocked(c)
	}
	clear(l.parked[len(kept):])
	l.parked = kept
}

func (l *limitListener) unparkLocked(c *limitConn) {
	if l.parkedBy[c.addr] <= 1 {
		delete(l.parkedBy, c.addr)
	} else {
		l.parkedBy[c.addr]--
	}
}

// release gives back a served connection's slot.
func (l *limitListener) release(c *limitConn) {
	l.mu.Lock()
	delete(l.open, c)
	if held := slices.DeleteFunc(l.perAddr[c.addr], func(o *limitConn) bool { return o == c }); len(held) == 0 {
		delete(l.perAddr, c.addr)
	} else {
		l.perAddr[c.addr] = held
	}
	l.promoteLocked()
	l.mu.Unlock()
	l.metrics.HTTPConnClosed()
	<-l.fds
}

const busyBody = "Service Unavailable: too many connections from this address\n"

var busyResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(busyBody)) + "\r\n\r\n" + busyBody)

// refuse answers 503 and closes c. The answer is written from a goroutine
// (at most cap(refusing) at once, else c is just closed).
func (l *limitListener) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		<-l.fds
		return
	}
	go func() {
		defer func() { <-l.refusing; <-l.fds }()
		defer c.Close()
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(busyResponse); err != nil {
			return
		}
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		// Read what the client sent (its request, usually there already):
		// closing with unread data would reset the connection, and the
		// client might lose the answer.
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = c.Read(make([]byte, 16<<10))
	}()
}

// sweepLoop closes, near the cap, keep-alive connections idle for
// idleShort, and parked connections that waited parkMax.
func (l *limitListener) sweepLoop() {
	tick := time.NewTicker(max(l.idleShort/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-l.done:
			return
		case now := <-tick.C:
			l.sweep(now)
		}
	}
}

func (l *limitListener) sweep(now time.Time) {
	var idle, expired []*limitConn
	l.mu.Lock()
	if len(l.open) >= l.maxConns-l.reserve {
		for c := range l.open {
			if c.state.Load() == connIdle && now.Sub(time.Unix(0, c.since.Load())) >= l.idleShort {
				idle = append(idle, c)
			}
		}
	}
	kept := l.parked[:0]
	for _, c := range l.parked {
		if now.Sub(c.parkedAt) >= parkMax {
			l.unparkLocked(c)
			expired = append(expired, c)
			continue
		}
		kept = append(kept, c)
	}
	clear(l.parked[len(kept):])
	l.parked = kept
	l.mu.Unlock()
	for _, c := range idle {
		l.reaped.Add(1)
		c.Close()
	}
	for _, c := range expired {
		l.expired.Add(1)
		c.Conn.Close()
		<-l.fds
	}
}

// connState tracks which served connections sit idle between requests.
func (l *limitListener) connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitConn)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		lc.since.Store(time.Now().UnixNano())
		lc.state.Store(connIdle)
	case http.StateActive:
		lc.state.Store(connActive)
	}
}

// stats counts what the limits did.
func (l *limitListener) stats() ConnStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ConnStats{Open: len(l.open), Parked: len(l.parked), Refused: l.refused.Load(),
		Reaped: l.reaped.Load(), Expired: l.expired.Load()}
}

// connAddr is the client's IP address, unmapped (zero if unknown).
func connAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Connection states, as http.Server's ConnState reports them.
const (
	connNew    = iota // admitted, no request read yet
	connActive        // reading or answering a request
	connIdle          // keep-alive, between requests
)

type limitConn struct {
	net.Conn
	l         *limitListener
	addr      netip.Addr
	parkedAt  time.Time    // guarded by l.mu, while parked
	state     atomic.Int32 // connNew, connActive or connIdle
	since     atomic.Int64 // unix nanoseconds the idle state began
	closeOnce sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.release(c) })
	return err
}

func (c *limitConn) deadline() {
	if c.l.writeIdle > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.l.writeIdle))
	}
}

func (c *limitConn) Write(p []byte) (int, error) {
	c.deadline()
	return c.Conn.Write(p)
}

// ReadFrom keeps net/http's sendfile path (the underlying *net.TCPConn's
// ReadFrom) while renewing the write deadline every sendChunk bytes.
func (c *limitConn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		c.deadline()
		return io.Copy(writerOnly{c}, r)
	}
	src, remain := r, int64(math.MaxInt64)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, remain = lr.R, lr.N
	}
	var total int64
	for remain > 0 {
		c.deadline()
		chunk := &io.LimitedReader{R: src, N: min(remain, sendChunk)}
		n, err := rf.ReadFrom(chunk)
		total += n
		remain -= n
		if lr, ok := r.(*io.LimitedReader); ok {
			lr.N = remain
		}
		if err != nil {
			return total, err
		}
		if n == 0 || chunk.N > 0 { // EOF
			return total, nil
		}
	}
	return total, nil
}

type writerOnly struct{ io.Writer }
