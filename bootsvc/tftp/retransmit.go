package tftp

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
)

// transferKey names a read request: the client's address and port, and
// the file. A client resends its RRQ from the same port when the first
// answer is slow; a new request comes from a new port, or asks for
// another file.
type transferKey struct {
	from netip.AddrPort
	file string
}

// running is one transfer in progress.
type running struct {
	acked chan struct{} // closed once the client has acknowledged a block: it knows the transfer's port
	done  chan struct{} // closed when the transfer has ended
	sent  bool          // set before done is closed: the whole file went out
	once  sync.Once
}

func (r *running) ack() { r.once.Do(func() { close(r.acked) }) }

// inflight tracks the transfers running per transferKey, so that a
// retransmitted RRQ never starts a second transfer of the same file to the
// same client port (which would hold a transfer slot, a socket and the
// file for its whole retry time, sending blocks nobody reads). This is
// what dnsmasq and tftp-hpa do too.
type inflight struct {
	mu sync.Mutex
	m  map[transferKey]*running
	// waiting counts retransmissions held until their transfer is acked
	// or ends; beyond maxWaiting one is answered at once.
	waiting    atomic.Int64
	maxWaiting int64
}

func newInflight(maxWaiting int) *inflight {
	return &inflight{m: map[transferKey]*running{}, maxWaiting: int64(maxWaiting)}
}

// begin registers a transfer for k and returns it, or returns the one
// already running for k with dup set.
func (f *inflight) begin(k transferKey) (r *running, dup bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.m[k]; ok {
		return cur, true
	}
	r = &running{acked: make(chan struct{}), done: make(chan struct{})}
	f.m[k] = r
	return r, false
}

// end marks r, begun for k, as ended (sent: the file went out whole).
func (f *inflight) end(k transferKey, r *running, sent bool) {
	f.mu.Lock()
	if f.m[k] == r {
		delete(f.m, k)
	}
	f.mu.Unlock()
	r.sent = sent
	close(r.done)
}

// size is the number of transfers tracked.
func (f *inflight) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// await holds a retransmission of r's request until the client has
// acknowledged a block of r (or r sent the whole file): the retransmission
// is then dropped without an answer (as dnsmasq and tftp-hpa do; an error
// from another port is ignored by the client anyway, and in a storm
// thousands of them only queue behind the transfers' blocks). It reports true when r ended without sending the file
// (the client ended it, as a PXE ROM ends its tsize probe before asking
// again from the same port): the request is then served as a new one.
func (f *inflight) await(ctx context.Context, r *running) (serve bool) {
	if f.waiting.Add(1) > f.maxWaiting {
		f.waiting.Add(-1)
		return false
	}
	defer f.waiting.Add(-1)
	select {
	case <-r.acked:
		return false
	case <-r.done:
		return !r.sent
	case <-ctx.Done():
		return false
	}
}
