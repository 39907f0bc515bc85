// Package webui is gitboot's live, read-only status page: GET / renders the
// whole page on the server (html/template, assets embedded with go:embed,
// no CDN), so it is complete without JavaScript; a small script keeps it
// live from GET /events (Server-Sent Events), which sends coalesced
// updates: the rows of the nodes that changed, the stage counts, the boot
// time histogram, the unknown MACs and the header (applied and rejected
// commits).
//
// It shows node names, stages, the names of files sent, addresses and
// times: never a runtime overlay's contents nor anything secret (the
// snapshot holds only a hash of asset keys, and the page does not show
// that either). The daemon (cmd/gitboot serve) creates a UI, hands it to
// httpboot as Config.UI, runs UI.Run, and reports commits with Applied and
// Rejected; webui never imports reconcile or hclspec.
package webui

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// DefaultMinInterval is the least time between two updates sent to the
// browsers: a storm of events is coalesced into at most 1/DefaultMinInterval
// page updates per second.
const DefaultMinInterval = 250 * time.Millisecond

// DefaultProfile is the profile the page's proposed node blocks list.
const DefaultProfile = "compute"

// Config configures a UI.
type Config struct {
	// Status is the store the page shows (required).
	Status *status.Store
	// Snapshot returns the snapshot being served (nil before the first).
	Snapshot func() *bootsvc.Snapshot
	// MinInterval: see DefaultMinInterval.
	MinInterval time.Duration
	// Heartbeat is how often an idle event stream gets a comment line
	// (default 15 s), so that proxies and the HTTP server's write-idle
	// timeout keep it open.
	Heartbeat time.Duration
	// Profile is the profile named in proposed node blocks
	// (DefaultProfile when empty).
	Profile string
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Commit describes a commit the reconciler evaluated.
type Commit struct {
	Hash    string
	Subject string
	Author  string
	When    time.Time // committed
	At      time.Time // evaluated (applied or rejected)
}

// Short is the commit's hash abbreviated to 12 digits.
func (c Commit) Short() string {
	if len(c.Hash) > 12 {
		return c.Hash[:12]
	}
	return c.Hash
}

// Diag is one diagnostic of a rejected commit.
type Diag struct {
	File    string
	Line    int
	Summary string
}

// UI is the status page. Create it with New; run Run for live updates.
type UI struct {
	cfg Config

	mu       sync.Mutex
	applied  Commit
	rejected *Commit
	diags    []Diag
	rollout  *Rollout // the current or last rollout (nil: none)
	subs     map[*subscriber]struct{}
	// perClient counts the streams in subs by client address.
	perClient map[netip.Addr]int
	header    bool // the header changed since the last update
	sent      int64
	last      lastSnap // Run's goroutine only

	kick chan struct{} // a header change: wake Run
}

// New creates a UI.
func New(cfg Config) *UI {
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Profile == "" {
		cfg.Profile = DefaultProfile
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Snapshot == nil {
		cfg.Snapshot = func() *bootsvc.Snapshot { return nil }
	}
	return &UI{cfg: cfg, subs: map[*subscriber]struct{}{}, perClient: map[netip.Addr]int{}, kick: make(chan struct{}, 1)}
}

// Applied records the commit being served (the reconciler applied it, or
// found it unchanged).
func (u *UI) Applied(c Commit) {
	u.mu.Lock()
	u.applied = c
	u.header = true
	u.mu.Unlock()
	u.wake()
}

// Rejected records a commit that failed validation, with its diagnostics.
func (u *UI) Rejected(c Commit, diags []Diag) {
	u.mu.Lock()
	u.rejected = &c
	u.diags = append([]Diag(nil), diags...)
	u.header = true
	u.mu.Unlock()
	u.wake()
}

func (u *UI) wake() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// ServeHTTP serves GET / (the page; ?node=NAME adds that node's timeline,
// and with &part=timeline only that panel) and GET /events. httpboot calls
// it for those two paths, GET and HEAD only.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		u.servePage(w, r)
	case "/events":
		u.serveEvents(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Run sends coalesced updates to the event streams until ctx ends: it waits
// for a change, sends one update, then waits at least MinInterval before
// the next.
func (u *UI) Run(ctx context.Context) error {
	wake := u.cfg.Status.Watch()
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-ctx.Done():
			u.closeAll()
			return nil
		case <-wake:
		case <-u.kick:
		}
		u.broadcast(u.update())
		t.Reset(u.cfg.MinInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			u.closeAll()
			return nil
		case <-t.C:
		}
	}
}
