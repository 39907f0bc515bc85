package dhcp

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// Admission control: how many nodes boot at once.
//
// A boot in flight is a declared node from its firmware's first answered
// DHCP until it asks for its last initrd (RUNTIME_OVERLAY, or
// SYSTEM_OVERLAY with secure_runtime, where the script loads no runtime
// overlay), a refusal or failure (NOT_FOUND, DENIED, BAD_REQUEST,
// INIT_FAILED), its own OS's DHCP, or Idle without any progress event.
// Above Limit, a boot firmware's DISCOVER (PXEClient or HTTPClient, not
// iPXE) of a node not yet in flight is held in a FIFO queue of at most
// Queue requests and answered, decided afresh, as soon as a boot ends; a
// held DISCOVER not answered within Hold of its client's last
// transmission is dropped. A client's retransmission (same MAC, PXE
// firmware and iPXE keep the xid) replaces the held request and keeps
// its place; one beyond a full queue is dropped: the client sends it
// again later (4, 8, 16, 32 s), as a DHCP server that reads too slowly
// would make it.
//
// Never held: a REQUEST (for an offered lease or a renewal), iPXE's DHCP
// (the node is past its firmware's TFTP), a node already in flight, any
// request of a node's own OS, unknown MACs and proxy mode (the site's
// server makes the address offer; a late boot offer would be missed).
// Those that start a boot count at once, even above Limit.
//
// Why: answering every DISCOVER of a storm at once starts thousands of
// TFTP transfers and HTTP downloads together; each then takes as long as
// all of them, and PXE firmware gives up on a TFTP that is too slow. A
// bounded number of boots keeps each one as fast as on an idle server.

// Admission defaults (see bench/RESULTS.md, "admission control").
const (
	// DefaultMaxBooting is the default Limit: boots in flight at once.
	DefaultMaxBooting = 64
	// DefaultAdmissionQueue is the default Queue: DISCOVERs held at once.
	DefaultAdmissionQueue = 4096
	// DefaultAdmissionHold is the default Hold: longer than PXE
	// firmware's longest wait between two DISCOVERs (32 s).
	DefaultAdmissionHold = 40 * time.Second
	// DefaultAdmissionIdle is the default Idle.
	DefaultAdmissionIdle = 20 * time.Second
)

// AdmissionConfig configures NewAdmission.
type AdmissionConfig struct {
	Limit int           // boots in flight at once; <= 0: DefaultMaxBooting
	Queue int           // DISCOVERs held at most; <= 0: DefaultAdmissionQueue
	Hold  time.Duration // how long a held DISCOVER waits after its last transmission; <= 0: DefaultAdmissionHold
	Idle  time.Duration // a boot with no progress for Idle no longer counts; <= 0: DefaultAdmissionIdle
	// Tick is how often expired boots and held requests are looked for;
	// <= 0: 250 ms.
	Tick time.Duration
}

// AdmissionStats counts what the gate did.
type AdmissionStats struct {
	InFlight int    // boots in flight now
	Queued   int    // DISCOVERs held now
	Held     uint64 // DISCOVERs held (a retransmission of a held one not counted again)
	Answered uint64 // held DISCOVERs answered when a boot ended
	Dropped  uint64 // held DISCOVERs dropped after Hold, and DISCOVERs beyond a full queue
	Expired  uint64 // boots that stopped counting after Idle without progress
}

// Admission bounds the boots in flight. Create it with NewAdmission,
// give it to every dhcp.Server (Config.Admission) and put its Recorder in
// front of the status store for the TFTP and HTTP services, which is how
// it learns that a boot moved on or ended. It is safe for concurrent use.
type Admission struct {
	cfg AdmissionConfig
	now func() time.Time

	// lastSystem: the script's last initrd is the system overlay
	// (secure_runtime), else the runtime overlay.
	lastSystem atomic.Bool

	mu       sync.Mutex
	inflight map[string]time.Time // MAC -> last progress
	queue    *list.List           // of *heldReq, oldest first
	held     map[string]*list.Element
	wake     chan struct{}

	nHeld, nAnswered, nDropped, nExpired uint64
}

// heldReq is a DISCOVER waiting for a boot to end.
type heldReq struct {
	mac    string
	last   time.Time // the client's last transmission
	answer func()    // decides the request afresh and sends the answer
}

// NewAdmission creates a gate with cfg's limits.
func NewAdmission(cfg AdmissionConfig) *Admission {
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultMaxBooting
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultAdmissionQueue
	}
	if cfg.Hold <= 0 {
		cfg.Hold = DefaultAdmissionHold
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultAdmissionIdle
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	return &Admission{cfg: cfg, now: time.Now, inflight: map[string]time.Time{},
		queue: list.New(), held: map[string]*list.Element{}, wake: make(chan struct{}, 1)}
}

// Stats returns the gauge and the counters.
func (a *Admission) Stats() AdmissionStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AdmissionStats{InFlight: len(a.inflight), Queued: a.queue.Len(), Held: a.nHeld,
		Answered: a.nAnswered, Dropped: a.nDropped, Expired: a.nExpired}
}

// setSecureRuntime says which initrd is the script's last.
func (a *Admission) setSecureRuntime(secure bool) { a.lastSystem.Store(secure) }

// admit decides about a boot firmware's DISCOVER of mac: true to answer
// it now (the boot counts from now on). Otherwise it is held (answer is
// called once a boot ends) or, with the queue full, dropped; held tells
// which.
func (a *Admission) admit(mac string, answer func()) (now, held bool) {
	t := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.inflight[mac]; ok {
		a.inflight[mac] = t
		return true, false
	}
	if e, ok := a.held[mac]; ok { // a retransmission keeps its place
		h := e.Value.(*heldReq)
		h.last, h.answer = t, answer
		return false, true
	}
	if len(a.inflight) < a.cfg.Limit && a.queue.Len() == 0 {
		a.inflight[mac] = t
		return true, false
	}
	if a.queue.Len() >= a.cfg.Queue {
		a.nDropped++
		return false, false
	}
	a.held[mac] = a.queue.PushBack(&heldReq{mac: mac, last: t, answer: answer})
	a.nHeld++
	if len(a.inflight) < a.cfg.Limit {
		a.poke() // behind others not yet answered, with room for them
	}
	return false, true
}

// start counts mac's boot (or its progress) without a limit: a request
// that is never held.
func (a *Admission) start(mac string) {
	t := a.now()
	a.mu.Lock()
	a.inflight[mac] = t
	a.mu.Unlock()
}

// end stops counting mac's boot and lets a held DISCOVER in.
func (a *Admission) end(mac string) {
	a.mu.Lock()
	_, ok := a.inflight[mac]
	delete(a.inflight, mac)
	a.mu.Unlock()
	if ok {
		a.poke()
	}
}

func (a *Admission) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// progress moves or ends mac's boot by a status event of the TFTP or
// HTTP service.
func (a *Admission) progress(ev status.Event) {
	if ev.MAC == "" {
		return
	}
	last := status.StageRuntimeOverlay
	if a.lastSystem.Load() {
		last = status.StageSystemOverlay
	}
	switch ev.Stage {
	case last, status.StageNotFound, status.StageDenied, status.StageBadRequest, status.StageInitFailed:
		a.end(ev.MAC)
		return
	}
	if ev.Alive {
		a.end(ev.MAC)
		return
	}
	t := a.now()
	a.mu.Lock()
	if _, ok := a.inflight[ev.MAC]; ok {
		a.inflight[ev.MAC] = t
	}
	a.mu.Unlock()
}

// Recorder returns a status.Recorder that records into next and moves
// the boots in flight on: give it to the TFTP and HTTP services.
func (a *Admission) Recorder(next status.Recorder) status.Recorder {
	return &admissionRecorder{a: a, next: next}
}

type admissionRecorder struct {
	a    *Admission
	next status.Recorder
}

func (r *admissionRecorder) Record(ev status.Event) {
	r.next.Record(ev)
	r.a.progress(ev)
}

// run answers held DISCOVERs as boots end and expires idle boots and
// stale held requests, until ctx is done.
func (a *Admission) run(ctx context.Context) {
	t := time.NewTicker(a.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-t.C:
			a.expire()
		}
		for {
			h := a.next()
			if h == nil {
				break
			}
			h.answer()
		}
	}
}

// next takes the oldest held DISCOVER when a boot may start, counting
// its boot.
func (a *Admission) next() *heldReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.inflight) >= a.cfg.Limit {
		return nil
	}
	e := a.queue.Front()
	if e == nil {
		return nil
	}
	h := a.queue.Remove(e).(*heldReq)
	delete(a.held, h.mac)
	a.inflight[h.mac] = a.now()
	a.nAnswered++
	return h
}

// expire ends boots idle for Idle and drops DISCOVERs held for Hold
// since their last transmission.
func (a *Admission) expire() {
	t := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for mac, last := range a.inflight {
		if t.Sub(last) >= a.cfg.Idle {
			delete(a.inflight, mac)
			a.nExpired++
		}
	}
	for e := a.queue.Front(); e != nil; {
		nx := e.Next()
		if h := e.Value.(*heldReq); t.Sub(h.last) >= a.cfg.Hold {
			a.queue.Remove(e)
			delete(a.held, h.mac)
			a.nDropped++
		}
		e = nx
	}
}
