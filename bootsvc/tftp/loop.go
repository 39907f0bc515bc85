package tftp

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// loop sends the blocks of every running transfer from one goroutine: an
// epoll set of the transfers' sockets and a heap of their resend
// deadlines. The request's goroutine (see serveRead) sets a transfer up,
// hands it over and returns; the loop calls the transfer's onEnd when it
// has ended. No goroutine waits per transfer, none is woken per block.
// In a boot storm of thousands of lock-step transfers beside HTTP
// downloads, a goroutine per transfer waited for the scheduler at every
// ACK (15-95 ms a block on the storm's 2 cores, 52 blocks a transfer;
// 1-8 ms with the loop): the loop takes every ACK that arrived since its
// last turn in one epoll_wait and answers them all, with one read and
// one write a block.
type loop struct {
	ctx  context.Context // Serve's: ended, the next block is an abort
	epfd int
	wake int // eventfd: a transfer was added, or the loop is to stop or close

	mu       sync.Mutex
	adds     []*xfer
	stopping bool // abort every transfer (Serve's context ended)
	closing  bool // return (Serve is done)

	// Owned by the loop goroutine.
	byFD   map[int32]*xfer
	timers timerHeap
	rcv    [ackBuffer]byte
	done   chan struct{}
}

// xfer is one transfer's state in the loop: the packet in flight and
// when to send it again.
type xfer struct {
	fd      int
	src     source
	neg     negotiated
	timeout time.Duration
	retries int
	acked   func() // called at the client's first acknowledgement
	// onSent is called by the loop as the file's last block goes out for
	// the first time: before the client can have it, and so before
	// anything the client does next (iPXE's DHCP and HTTP, recorded by
	// other services). Recording the stage when the last ACK was read
	// left nodes at TFTP in a storm: the ACK is read after the client
	// has moved on.
	onSent func()
	// onEnd is called by the loop once the transfer has ended, its socket
	// closed: with the bytes of the file the client acknowledged, and nil
	// when that was the whole file. It must not block (the loop waits).
	onEnd func(sent int64, err error)

	bufp  *[]byte // pooled, or nil
	pkt   []byte  // the packet in flight
	block uint16  // the block whose ACK is awaited (0: the OACK's)
	k     int64   // the number of that block, not rolled over
	last  bool    // pkt is the file's last block
	sent  int64   // bytes of the file acknowledged

	tries    int           // resends of pkt so far
	next     time.Duration // the wait after the next resend
	deadline time.Time     // when pkt goes again unless acknowledged
	queued   bool          // has an entry in the timer heap
	wasAcked bool
	resent   int // packets sent again after a silent wait

}

func newLoop(ctx context.Context) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	l := &loop{ctx: ctx, epfd: epfd, wake: wake, byFD: map[int32]*xfer{}, done: make(chan struct{})}
	go l.run()
	return l, nil
}

// start hands x to the loop, which closes x.fd and calls x.onEnd when the
// transfer has ended.
func (l *loop) start(x *xfer) {
	l.mu.Lock()
	l.adds = append(l.adds, x)
	l.mu.Unlock()
	l.poke()
}

// stop aborts every running transfer, and every one added later, with a
// "shutting down" error to its client.
func (l *loop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.poke()
}

// close ends the loop once no transfer runs any more (Serve has waited for
// them) and frees its descriptors.
func (l *loop) close() {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.poke()
	<-l.done
	unix.Close(l.epfd)
	unix.Close(l.wake)
}

func (l *loop) poke() {
	var one = [8]byte{1}
	unix.Write(l.wake, one[:])
}

func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(l.epfd, events, l.waitMillis(time.Now()))
		if err != nil && !errors.Is(err, unix.EINTR) {
			// Not expected on a valid epoll descriptor: end every
			// transfer rather than spin.
			l.abortAll(fmt.Errorf("epoll: %w", err), false)
			n = 0
		}
		now := time.Now()
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == l.wake {
				var b [8]byte
				unix.Read(l.wake, b[:])
				continue
			}
			if x := l.byFD[ev.Fd]; x != nil {
				l.readable(x, now)
			}
		}
		if l.takeAdds(now) {
			return
		}
		l.expire(now)
	}
}

// takeAdds starts the transfers added since the last turn, aborts every
// transfer when stopping, and reports whether the loop is to return.
func (l *loop) takeAdds(now time.Time) bool {
	l.mu.Lock()
	adds, stopping, closing := l.adds, l.stopping, l.closing
	l.adds = nil
	l.mu.Unlock()
	for _, x := range adds {
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, x.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(x.fd)}); err != nil {
			unix.Close(x.fd)
			x.end(fmt.Errorf("epoll: %w", err))
			continue
		}
		l.byFD[int32(x.fd)] = x
		if stopping {
			continue // aborted below, its client told
		}
		l.begin(x, now)
	}
	if stopping {
		l.abortAll(errShutdown, true)
	}
	return closing && len(l.byFD) == 0
}

// abortAll ends every transfer with err, telling each client when tell.
func (l *loop) abortAll(err error, tell bool) {
	for _, x := range l.byFD {
		if tell {
			unix.Write(x.fd, appendError(make([]byte, 0, 64), codeUndefined, err.Error()))
		}
		l.finish(x, err)
	}
}

// begin sends x's first packet: the OACK when options were answered, else
// block 1.
func (l *loop) begin(x *xfer, now time.Time) {
	need := x.neg.blockSize + 4
	if need <= pooledBlock+4 {
		x.bufp = bufPool.Get().(*[]byte)
		x.pkt = (*x.bufp)[:0]
	} else {
		x.pkt = make([]byte, 0, need)
	}
	if len(x.neg.oack) > 0 {
		x.pkt = appendOACK(x.pkt[:0], x.neg.oack)
		x.block, x.k = 0, 0
		l.send(x, now)
		return
	}
	l.nextBlock(x, now)
}

// nextBlock reads and sends the block after x.k.
func (l *loop) nextBlock(x *xfer, now time.Time) {
	x.k++
	buf := x.pkt[:x.neg.blockSize+4]
	if l.ctx.Err() != nil {
		unix.Write(x.fd, appendError(buf[:0], codeUndefined, errShutdown.Error()))
		l.finish(x, errShutdown)
		return
	}
	n, err := x.src.read(buf[4:], x.sent)
	if err != nil {
		unix.Write(x.fd, appendError(buf[:0], codeUndefined, "cannot read file"))
		l.finish(x, fmt.Errorf("reading block %d: %w", x.k, err))
		return
	}
	x.block = uint16(x.k) // rolls over to 0 after 65535, as clients expect
	buf[0], buf[1] = 0, opDATA
	buf[2], buf[3] = byte(x.block>>8), byte(x.block)
	x.pkt = buf[:4+n]
	x.last = n < x.neg.blockSize
	if x.last && x.onSent != nil {
		x.onSent()
		x.onSent = nil
	}
	l.send(x, now)
}

// send sends x.pkt for the first time and arms its resend.
func (l *loop) send(x *xfer, now time.Time) {
	x.tries = 0
	x.next = x.timeout
	if l.write(x) {
		l.arm(x, now)
	}
}

// arm sets x's deadline to the current wait from now and doubles the wait
// for the next time, up to maxBackoff times the timeout (timeout, 2x, 4x,
// 4x…, as dnsmasq backs off: a client too busy to answer within the
// timeout is not sent every block again each second).
func (l *loop) arm(x *xfer, now time.Time) {
	x.deadline = now.Add(x.next)
	x.next = min(2*x.next, maxBackoff*x.timeout)
	if !x.queued {
		x.queued = true
		heap.Push(&l.timers, timer{at: x.deadline, x: x})
	}
}

// write sends x.pkt; a full socket buffer counts as a lost packet (the
// deadline sends it again). It reports false when x ended.
func (l *loop) write(x *xfer) bool {
	_, err := unix.Write(x.fd, x.pkt)
	switch {
	case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENOBUFS):
		return true
	case errors.Is(err, unix.ECONNREFUSED):
		l.finish(x, fmt.Errorf("block %d: the client's port is closed (it gave up): %w", x.block, err))
	default:
		l.finish(x, fmt.Errorf("sending block %d: %w", x.block, err))
	}
	return false
}

// readable reads one datagram of x's client (epoll is level-triggered:
// another waiting is reported again, and a lock-step client sends one
// ACK a block, so reading on to EAGAIN would cost a system call a block
// for nothing). The ACK of the packet in flight moves the transfer on;
// older ACKs are ignored (answering them would send every block twice
// from then on: the sorcerer's apprentice); an ERROR ends it.
func (l *loop) readable(x *xfer, now time.Time) {
	n, err := unix.Read(x.fd, l.rcv[:])
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		return
	case errors.Is(err, unix.ECONNREFUSED):
		l.finish(x, fmt.Errorf("block %d: the client's port is closed (it gave up): %w", x.block, err))
		return
	case err != nil:
		l.finish(x, fmt.Errorf("block %d: %w", x.block, err))
		return
	case n < 4:
		return
	}
	p := l.rcv[:n]
	switch uint16(p[0])<<8 | uint16(p[1]) {
	case opACK:
		if uint16(p[2])<<8|uint16(p[3]) != x.block {
			return
		}
		if !x.wasAcked {
			x.wasAcked = true
			x.acked()
		}
		if x.k > 0 {
			x.sent += int64(len(x.pkt) - 4)
		}
		if x.last {
			l.finish(x, nil)
			return
		}
		l.nextBlock(x, now)
	case opERROR:
		msg := p[4:]
		if i := indexNUL(msg); i >= 0 {
			msg = msg[:i]
		}
		l.finish(x, &clientError{block: x.block, code: uint16(p[2])<<8 | uint16(p[3]), msg: string(msg)})
	}
}

// expire resends the packets whose deadline passed, and ends the
// transfers that used up their resends.
func (l *loop) expire(now time.Time) {
	for len(l.timers) > 0 && !l.timers[0].at.After(now) {
		t := heap.Pop(&l.timers).(timer)
		x := t.x
		x.queued = false
		if l.byFD[int32(x.fd)] != x {
			continue // ended
		}
		if x.deadline.After(now) {
			// Acknowledged since: wait for the deadline it has now.
			x.queued = true
			heap.Push(&l.timers, timer{at: x.deadline, x: x})
			continue
		}
		if x.tries >= x.retries {
			unix.Write(x.fd, appendError(make([]byte, 0, 64), codeUndefined, errTimeout.Error()))
			l.finish(x, fmt.Errorf("block %d: %w", x.block, errTimeout))
			continue
		}
		x.tries++
		x.resent++
		if l.write(x) {
			l.arm(x, now)
		}
	}
}

// waitMillis is how long epoll_wait may sleep: until the next deadline
// (rounded up), or for ever without one.
func (l *loop) waitMillis(now time.Time) int {
	if len(l.timers) == 0 {
		return -1
	}
	d := l.timers[0].at.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// finish ends x with err (nil: the whole file was acknowledged), closes
// its socket and reports the end (see xfer.end).
func (l *loop) finish(x *xfer, err error) {
	delete(l.byFD, int32(x.fd))
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, x.fd, nil)
	unix.Close(x.fd)
	x.end(err)
}

// end gives x's packet buffer back to the pool and reports the end.
func (x *xfer) end(err error) {
	if x.bufp != nil {
		bufPool.Put(x.bufp)
		x.bufp = nil
	}
	x.pkt = nil
	x.onEnd(x.sent, err)
}

// timer is a heap entry: x is due at at, unless its deadline moved on.
type timer struct {
	at time.Time
	x  *xfer
}

// timerHeap orders timers by when they are due. Each transfer has at
// most one entry; acknowledgements move the transfer's deadline without
// touching the heap (the entry is pushed again when it comes up early).
type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(v any)        { *h = append(*h, v.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = timer{}
	*h = old[:len(old)-1]
	return t
}
