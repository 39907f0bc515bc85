package status

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultFlushInterval = 5 * time.Second
	DefaultMaxUnknown    = 1024
	DefaultMaxErrors     = 64
)

// Config configures a Store.
type Config struct {
	// Dir is the state directory; the status is persisted to
	// Dir/status.json. Empty: in memory only.
	Dir string
	// FlushInterval is the most often the state file is rewritten
	// (default 5 s). Close always writes it.
	FlushInterval time.Duration
	// MaxUnknown bounds the unknown (undeclared) MACs kept for discovery;
	// the least recently seen is dropped first (default 1024).
	MaxUnknown int
	// MaxErrors bounds the errors kept that belong to no node (default 64).
	MaxErrors int
	// Now returns the current time (default time.Now); tests set it.
	Now func() time.Time
	// Logger receives the warning of a background write of the state
	// file that failed (a full disk). Nil: slog.Default().
	Logger *slog.Logger
}

// Failure is an error recorded for a node (NOT_FOUND, BAD_REQUEST, DENIED,
// INIT_FAILED).
type Failure struct {
	Stage Stage  `json:"stage"`
	Sent  string `json:"sent,omitempty"` // what was asked for
	// Reason is the node's own account of an INIT_FAILED (what its /init
	// tried); empty for the other errors.
	Reason string     `json:"reason,omitempty"`
	MAC    string     `json:"mac,omitempty"` // for errors that belong to no node
	Addr   netip.Addr `json:"addr,omitzero"`
	Time   time.Time  `json:"time"`
}

// NodeRecord is what the Store knows about one declared node.
//
// A node that runs Linux is seen alive (Event.Alive: its own DHCP
// renewals): that refreshes LastSeen only, so the table keeps saying
// RUNTIME_OVERLAY between the agent's pulls.
//
// How errors relate to the last good stage: a good event (DHCP ...
// RUNTIME_OVERLAY) sets Stage, Sent, Addr and LastSeen and clears Error. An
// error event sets only Error: it never overwrites the last good stage and
// never refreshes LastSeen (a refused request, possibly from another host,
// says nothing about the node being alive). The table shows a pending error
// in its STAGE and SENT columns until the next good event clears it.
//
// What the node booted: a kernel sent to the node starts a new boot. It
// replaces Booted and BootedDigests with that kernel's commit and digest;
// the image and the system overlay sent after it fill in their digests.
// Nothing else clears them: a DHCP or iPXE script request (a boot starting)
// leaves them alone, so a node shows what it runs until it has fetched its
// new kernel. Booted is the commit of the snapshot the kernel came from,
// unless the image or system overlay of the same boot came from an older
// (retired) snapshot: then that commit, the one whose script the node
// follows. A runtime overlay and extra initrds never change them.
type NodeRecord struct {
	Name     string     `json:"name"`
	MAC      string     `json:"mac,omitempty"`
	Stage    Stage      `json:"stage,omitempty"`
	Sent     string     `json:"sent,omitempty"`
	Addr     netip.Addr `json:"addr,omitzero"`
	LastSeen time.Time  `json:"last_seen,omitzero"`
	Error    *Failure   `json:"error,omitempty"`
	// Booted is the commit the node booted ("" when unknown).
	Booted string `json:"booted,omitempty"`
	// BootedDigests are the digests of the boot artifacts it fetched.
	BootedDigests BootDigests `json:"booted_digests,omitzero"`
	// NeedsReboot is set by Report.MarkReboots, where the applied
	// snapshot is known (GET /status); the Store never sets it.
	NeedsReboot bool `json:"needs_reboot"`
	// BMC is where the node's BMC answers ("ipmi 10.98.8.21:623"; never
	// credentials), set by Report.MarkBMC from the applied snapshot.
	BMC string `json:"bmc,omitempty"`
	// Boot is when this boot reached each stage; PrevBoot the boot
	// before it (see observe in timeline.go).
	Boot     Timeline `json:"boot,omitzero"`
	PrevBoot Timeline `json:"previous_boot,omitzero"`
}

// BootDigests are the content digests ("sha256:<hex>") of the artifacts a
// node boots from; one is empty when the node has not fetched it (yet).
type BootDigests struct {
	Kernel string `json:"kernel,omitempty"`
	Image  string `json:"image,omitempty"`
	System string `json:"system,omitempty"` // the system overlay
}

// IsZero reports whether no digest is known: the node never booted.
func (d BootDigests) IsZero() bool { return d == BootDigests{} }

// NeedsReboot reports whether a node that booted d must reboot to run cur,
// its artifacts in the applied snapshot: it booted (a digest is known) and
// its kernel, image or system overlay differs from the current one. A
// digest not fetched (a boot in progress) or not built is not compared; the
// runtime overlay is not part of it (the agent applies it live).
func (d BootDigests) NeedsReboot(cur BootDigests) bool {
	differs := func(booted, now string) bool { return booted != "" && now != "" && booted != now }
	return differs(d.Kernel, cur.Kernel) || differs(d.Image, cur.Image) || differs(d.System, cur.System)
}

// Unknown is a MAC seen by a boot service that no declared node has.
type Unknown struct {
	MAC       string     `json:"mac"`
	Addr      netip.Addr `json:"addr,omitzero"`
	Stage     Stage      `json:"stage"`
	Sent      string     `json:"sent,omitempty"`
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`
	Count     int64      `json:"count"`
}

// IsError reports whether s is an error record rather than a boot stage.
func (s Stage) IsError() bool {
	return s == StageNotFound || s == StageBadRequest || s == StageDenied || s == StageInitFailed
}

// unknownEntry is an Unknown in the store's recency list (most recent at
// the front), so that the least recently seen is evicted in O(1).
type unknownEntry struct {
	Unknown
	prev, next *unknownEntry
}

// Store is the in-memory status of every node, safe for concurrent use.
// Record is O(1). It implements Recorder.
type Store struct {
	cfg Config

	mu       sync.Mutex
	nodes    map[string]*NodeRecord
	unknown  map[string]*unknownEntry
	head     *unknownEntry // most recently seen
	tail     *unknownEntry // least recently seen
	errs     []Failure     // ring of errors that belong to no node
	rejected atomic.Pointer[Rejection]
	errNext  int
	counts   map[Stage]int
	gen      uint64 // bumped by every change
	saved    uint64 // gen last written to disk
	// change tracking for a live view (changes.go); nil until Watch
	wake                      chan struct{}
	dirty                     map[string]struct{}
	dirtyUnknown, dirtyErrors bool

	// queue holds events recorded while mu was taken (queue.go); spare
	// is the emptied slice it takes next.
	queue eventQueue
	spare []Event

	flushMu sync.Mutex // serialises writes of the state file
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

// Open creates a Store, loading Dir/status.json when it exists, and starts
// the background writer when Dir is set. Call Close to stop it and write
// the final state.
func Open(cfg Config) (*Store, error) {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MaxUnknown <= 0 {
		cfg.MaxUnknown = DefaultMaxUnknown
	}
	if cfg.MaxErrors <= 0 {
		cfg.MaxErrors = DefaultMaxErrors
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{
		cfg:     cfg,
		nodes:   make(map[string]*NodeRecord),
		unknown: make(map[string]*unknownEntry),
		counts:  make(map[Stage]int),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if cfg.Dir == "" {
		close(s.done)
		return s, nil
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	go s.flushLoop()
	return s, nil
}

// NewMemory returns a Store that is never persisted.
func NewMemory() *Store {
	s, _ := Open(Config{})
	return s
}

// Record implements Recorder. Events with a Node update that node; events
// without a Node but with a MAC are discovery records of unknown MACs (error
// events among them are kept with the other unattributed errors, so that a
// scan of random MACs cannot push real discoveries out).
func (s *Store) Record(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = s.cfg.Now()
	}
	if s.mu.TryLock() {
		s.applyQueued()
		s.apply(ev)
		s.unlock()
		return
	}
	// Taken (a reader copying the table, another recorder): queue it for
	// the holder, and apply it ourselves if the holder let go meanwhile
	// (it may have looked at the queue before ev was in it).
	s.queue.push(ev)
	if s.mu.TryLock() {
		s.unlock()
	}
}

func (s *Store) recordNode(ev Event) {
	r, ok := s.nodes[ev.Node]
	if !ok {
		r = &NodeRecord{Name: ev.Node}
		s.nodes[ev.Node] = r
	}
	if ev.Alive && r.Stage != "" {
		if ev.Time.After(r.LastSeen) {
			r.LastSeen = ev.Time
		}
		return
	}
	before := r.shown()
	if ev.MAC != "" {
		r.MAC = ev.MAC
	}
	if ev.Stage.IsError() {
		if r.Error == nil {
			r.Error = &Failure{}
		}
		*r.Error = Failure{Stage: ev.Stage, Sent: ev.Sent, Reason: ev.Reason, Addr: ev.Addr, Time: ev.Time}
		if ev.Stage == StageInitFailed {
			r.initFailed(&ev)
		}
	} else {
		r.Stage, r.Sent, r.Addr, r.LastSeen = ev.Stage, ev.Sent, ev.Addr, ev.Time
		// An INIT_FAILED stands until the node boots again: its agent,
		// started before the init was looked for, still pulls the runtime
		// overlay in the minute before the reboot.
		if r.Error == nil || r.Error.Stage != StageInitFailed || ev.Stage != StageRuntimeOverlay {
			r.Error = nil
		}
		r.observe(ev.Stage, ev.Time)
		if ev.Digest != "" {
			r.boot(&ev)
		}
	}
	if after := r.shown(); after != before {
		if before != "" {
			s.counts[before]--
		}
		s.counts[after]++
	}
}

// boot records a boot artifact sent to the node (see NodeRecord).
func (r *NodeRecord) boot(ev *Event) {
	switch ev.Stage {
	case StageKernel:
		r.BootedDigests = BootDigests{Kernel: ev.Digest}
		r.Booted = ev.Commit
		return
	case StageImage:
		r.BootedDigests.Image = ev.Digest
	case StageSystemOverlay:
		r.BootedDigests.System = ev.Digest
	default:
		return
	}
	if ev.Retired || r.Booted == "" {
		r.Booted = ev.Commit
	}
}

// shown is the stage the table shows: a pending error, else the last good
// stage.
func (r *NodeRecord) shown() Stage {
	if r.Error != nil {
		return r.Error.Stage
	}
	return r.Stage
}

func (s *Store) recordUnknown(ev Event) {
	e, ok := s.unknown[ev.MAC]
	if ok {
		s.unlink(e)
	} else {
		if len(s.unknown) >= s.cfg.MaxUnknown && s.tail != nil {
			old := s.tail
			s.unlink(old)
			delete(s.unknown, old.MAC)
		}
		e = &unknownEntry{Unknown: Unknown{MAC: ev.MAC, FirstSeen: ev.Time}}
		s.unknown[ev.MAC] = e
	}
	e.Addr, e.Stage, e.Sent, e.LastSeen = ev.Addr, ev.Stage, ev.Sent, ev.Time
	e.Count++
	s.pushFront(e)
}

func (s *Store) unlink(e *unknownEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (s *Store) pushFront(e *unknownEntry) {
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

func (s *Store) recordError(ev Event) {
	f := Failure{Stage: ev.Stage, Sent: ev.Sent, MAC: ev.MAC, Addr: ev.Addr, Time: ev.Time}
	if len(f.Sent) > 128 {
		f.Sent = f.Sent[:128]
	}
	if len(s.errs) < s.cfg.MaxErrors {
		s.errs = append(s.errs, f)
		return
	}
	s.errs[s.errNext] = f
	s.errNext = (s.errNext + 1) % len(s.errs)
}

// Node returns a copy of the record of the named node.
func (s *Store) Node(name string) (NodeRecord, bool) {
	s.lock()
	defer s.unlock()
	r, ok := s.nodes[name]
	if !ok {
		return NodeRecord{}, false
	}
	return r.clone(), true
}

func (r *NodeRecord) clone() NodeRecord {
	c := *r
	if r.Error != nil {
		e := *r.Error
		c.Error = &e
	}
	return c
}

// StageCounts returns how many recorded nodes show each stage (a pending
// error counts as its error stage).
func (s *Store) StageCounts() map[Stage]int {
	s.lock()
	defer s.unlock()
	out := make(map[Stage]int, len(s.counts))
	for k, v := range s.counts {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// Unknowns returns the unknown MACs, most recently seen first.
func (s *Store) Unknowns() []Unknown {
	s.lock()
	defer s.unlock()
	out := make([]Unknown, 0, len(s.unknown))
	for e := s.head; e != nil; e = e.next {
		out = append(out, e.Unknown)
	}
	return out
}

// Errors returns the most recent errors that belong to no declared node,
// oldest first.
func (s *Store) Errors() []Failure {
	s.lock()
	defer s.unlock()
	out := make([]Failure, 0, len(s.errs))
	out = append(out, s.errs[s.errNext:]...)
	out = append(out, s.errs[:s.errNext]...)
	return out
}

// Rows returns one row per declared node name, sorted by name; a node never
// seen has a row with only its name.
func (s *Store) Rows(names []string) []NodeRecord {
	rows := make([]NodeRecord, 0, len(names))
	s.lock()
	for _, n := range names {
		if r, ok := s.nodes[n]; ok {
			rows = append(rows, r.clone())
		} else {
			rows = append(rows, NodeRecord{Name: n})
		}
	}
	s.unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

// Report builds what `GET /status` serves for the declared node names.
func (s *Store) Report(server, commit string, interval time.Duration, names []string) *Report {
	now := s.cfg.Now()
	return &Report{
		Server:          server,
		Commit:          commit,
		Now:             now,
		IntervalSeconds: int64(interval / time.Second),
		Nodes:           s.Rows(names),
		Unknown:         s.Unknowns(),
		Errors:          s.Errors(),
		LastRejected:    s.Rejected(),
	}
}

// Close stops the background writer and writes the state file a last time.
func (s *Store) Close() error {
	s.lock()
	if s.closed {
		s.unlock()
		return nil
	}
	s.closed = true
	s.unlock()
	if s.cfg.Dir == "" {
		return nil
	}
	close(s.stop)
	<-s.done
	if err := s.Flush(); err != nil {
		return fmt.Errorf("closing status store: %w", err)
	}
	return nil
}
