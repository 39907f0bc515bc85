package httpboot

import (
	"io"
	"math"
	"net"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc/metrics"
)

// sendChunk is how much one sendfile call may send before the write
// deadline is pushed forward again.
const sendChunk = 4 << 20

// limitListener accepts at most max connections at a time (more wait in
// the kernel's backlog) and gives each a progress-based write deadline: a
// write must make progress within writeIdle, however long the whole
// response takes, so a 500 MB download on a slow link works and a client
// that stops reading is dropped.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	writeIdle time.Duration
	metrics   *metrics.Metrics
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, max int, writeIdle time.Duration, m *metrics.Metrics) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, max), writeIdle: writeIdle, metrics: m, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	l.metrics.HTTPConnOpened()
	return &limitConn{Conn: c, l: l}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	l         *limitListener
	closeOnce sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.l.metrics.HTTPConnClosed()
		<-c.l.sem
	})
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
