package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Request asks the server for a rollout: the JSON body of POST /rollout.
// Empty fields take the server block's `rollout` settings, then the
// defaults.
type Request struct {
	Batch       string            `json:"batch,omitempty"`
	MaxFailures *int              `json:"max_failures,omitempty"`
	Wait        string            `json:"wait,omitempty"`
	Timeout     string            `json:"timeout,omitempty"`
	DryRun      bool              `json:"dry_run,omitempty"`
	Only        []string          `json:"only,omitempty"` // node names or globs
	Tags        map[string]string `json:"tags,omitempty"` // every tag must match
	// Auto: the server started it for a newly applied commit.
	Auto bool `json:"auto,omitempty"`
}

// ErrBusy is returned by Start while another rollout runs.
var ErrBusy = errors.New("a rollout is already running")

// ErrClosed is returned by Start once the server is stopping.
var ErrClosed = errors.New("the server is stopping: no rollout starts")

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Prepare turns a request into a rollout: the applied commit, the
	// nodes that need a reboot (filtered by the request), their BMCs. An
	// error refuses the request (a node without a BMC, unknown
	// credentials, a bad flag).
	Prepare func(ctx context.Context, req Request) (Config, error)
	// Update receives every change of the current rollout (the web page).
	Update func(*Progress)
	Logger *slog.Logger
}

// Manager runs at most one rollout at a time on the server and keeps the
// progress of the current or last one.
type Manager struct {
	cfg ManagerConfig

	mu     sync.Mutex
	cur    *active   // the running rollout, nil when none
	last   *Progress // the progress of the current or last rollout
	closed bool      // Close was called: no more rollouts
	wg     sync.WaitGroup
}

type active struct {
	id     string
	commit string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// NewManager makes a Manager.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{cfg: cfg}
}

// Start prepares req and, unless it is a dry run or no node needs a
// reboot, starts the rollout in the background. It returns the progress
// at its start (for a dry run: the planned batches).
func (m *Manager) Start(ctx context.Context, req Request) (*Progress, error) {
	m.mu.Lock()
	if m.cur != nil && !req.DryRun {
		cur := m.cur
		m.mu.Unlock()
		return nil, fmt.Errorf("%w (%s, commit %s): wait for it, or apply a newer commit to supersede it", ErrBusy, cur.id, short(cur.commit))
	}
	m.mu.Unlock()
	cfg, err := m.cfg.Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return cfg.Plan(), nil
	}
	if len(cfg.Nodes) == 0 {
		p := cfg.Plan()
		p.State, p.Reason = StateCompleted, "no node needs a reboot"
		return p, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.cur != nil {
		return nil, fmt.Errorf("%w (%s, commit %s)", ErrBusy, m.cur.id, short(m.cur.commit))
	}
	rctx, cancel := context.WithCancelCause(context.Background())
	a := &active{id: cfg.ID, commit: cfg.Commit, cancel: cancel, done: make(chan struct{})}
	m.cur = a
	update := cfg.Update
	cfg.Update = func(p *Progress) {
		m.mu.Lock()
		m.last = p
		m.mu.Unlock()
		if update != nil {
			update(p)
		}
		if m.cfg.Update != nil {
			m.cfg.Update(p)
		}
	}
	first := cfg.Plan()
	first.State = StateRunning
	m.last = first
	m.wg.Add(1)
	m.cfg.Logger.Info("rollout started", "id", cfg.ID, "commit", short(cfg.Commit), "nodes", len(cfg.Nodes), "batch", cfg.Batch.String(), "auto", req.Auto)
	go func() {
		defer m.wg.Done()
		defer close(a.done)
		p := Run(rctx, cfg)
		m.mu.Lock()
		m.last, m.cur = p, nil
		m.mu.Unlock()
		cancel(nil)
		m.cfg.Logger.Info("rollout ended", "id", p.ID, "commit", short(p.Commit), "state", p.State, "reason", p.Reason,
			"done", p.Done, "failed", p.Failed, "skipped", p.Skipped)
	}()
	return first.Clone(), nil
}

// Current returns the progress of the running rollout, or else of the last
// one; nil when there was none.
func (m *Manager) Current() *Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last.Clone()
}

// Supersede stops the running rollout if it rolls out another commit than
// commit, and waits until it has stopped (it sends no power command after
// that). It reports whether it stopped one.
func (m *Manager) Supersede(commit string) bool {
	m.mu.Lock()
	a := m.cur
	m.mu.Unlock()
	if a == nil || sameCommit(a.commit, commit) {
		return false
	}
	a.cancel(ErrSuperseded)
	<-a.done
	return true
}

// Cancel stops the running rollout, if any, and waits for it.
func (m *Manager) Cancel(why error) bool {
	m.mu.Lock()
	a := m.cur
	m.mu.Unlock()
	if a == nil {
		return false
	}
	a.cancel(why)
	<-a.done
	return true
}

// Close cancels a running rollout and waits for it (the server stops);
// Start refuses to start another.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.Cancel(errors.New("the server is stopping"))
	m.wg.Wait()
}
