package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/dhcp"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/metrics"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/bootsvc/tftp"
	"github.com/gitboot/gitboot/bootsvc/webui"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/statefile"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"golang.org/x/sync/errgroup"
)

// Config is what a server serves and how (the flags of gitboot serve).
type Config struct {
	Repo   string // a local repository path, or a remote URL cloned into State
	Ref    string // branch (or tag, or commit) served
	State  string // state directory: inventory, artifacts, leases, node status
	Server string // server block to act as ("": the only one)

	ListenHTTP, ListenTFTP string // "" : the server block's ports
	Vars                   map[string]string
	Poll                   time.Duration // re-check this often (0: never)
	Watch                  bool          // watch a local repository's refs
	Notes                  bool          // write refs/notes/gitboot
	NotesInterval          time.Duration // node status notes at most this often
	Policy                 *gitsrc.Policy
	Agent                  string // gitboot-agent binary for the system overlays
	TFTPPerClient          int
	HTTPPerClient          int
	ReloadTimeout          time.Duration
	Roots                  hclspec.Roots
	UI                     bool   // serve the web status page
	BMCCredentials         string // credentials file ("": none)

	Logger   *slog.Logger
	Progress io.Writer // build progress (a terminal), or nil
}

// InvalidTipError is Run's error when nothing was applied yet and the
// branch tip is invalid: nothing is served.
type InvalidTipError struct {
	Repo string
	*reconcile.ConfigError
}

func (e *InvalidTipError) Error() string {
	return fmt.Sprintf("commit %s of %s is invalid; nothing is served: %v", e.Commit, e.Repo, e.ConfigError)
}

func (e *InvalidTipError) Unwrap() error { return e.ConfigError }

// Run serves cfg until ctx is done (then it stops every service, also in
// the middle of a build) or a service fails.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.TFTPPerClient < 1 || cfg.HTTPPerClient < 1 {
		return fmt.Errorf("--tftp-max-per-client %d, --http-max-per-client %d: both must be at least 1", cfg.TFTPPerClient, cfg.HTTPPerClient)
	}
	if cfg.Policy != nil {
		log.Info("only commits signed by a trusted key are applied", "trusted_keys", cfg.Policy)
	}
	roots := cfg.Roots
	log.Info("image sources and ipxe_dir must lie in", "image_roots", strings.Join(roots.Images, ","), "ipxe_dirs", strings.Join(roots.IPXE, ","))
	if err := os.MkdirAll(cfg.State, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	unlock, err := LockState(cfg.State)
	if err != nil {
		return err
	}
	defer unlock()
	src, err := openSource(ctx, cfg.Repo, cfg.State)
	if err != nil {
		return err
	}
	builder, err := artifact.New(artifact.Config{StateDir: cfg.State, Logger: log, Progress: cfg.Progress, Agent: cfg.Agent})
	if err != nil {
		return err
	}
	m := metrics.New()
	reloads := &reloadWatch{m: m}
	var svcs *services // set once the services run; Publish before that only records
	var nw *notesWriter
	var ui *webui.UI       // the status page, once the store is open (nil: --ui=false)
	var rs *rolloutService // rollouts, once the store is open
	if cfg.Notes {
		if cfg.NotesInterval <= 0 {
			return fmt.Errorf("--notes-interval %v: must be positive", cfg.NotesInterval)
		}
		nw, err = newNotesWriter(log, repoPath(src), remoteOf(src), cfg.Server, cfg.NotesInterval, nil, func() *bootsvc.Snapshot {
			if svcs == nil {
				return nil
			}
			return svcs.http.Snapshot()
		})
		if err != nil {
			return err
		}
	}
	rec := reconcile.New(reconcile.Config{
		Source: src, Ref: cfg.Ref, Server: cfg.Server, Vars: cfg.Vars, Builder: builder, StateDir: cfg.State, Logger: log,
		Verify: CommitVerifier(src, cfg.Policy), Roots: roots, ReloadTimeout: cfg.ReloadTimeout,
		Publish: func(s *bootsvc.Snapshot) error {
			if svcs == nil {
				return nil
			}
			return svcs.Publish(s)
		},
		OnEvaluated: func(ev reconcile.Evaluation) {
			m.ObserveReconcile(ev.Result)
			reloads.evaluated(ev)
			if ev.Result == reconcile.ResultApplied {
				m.ObserveBuild(ev.Build)
				m.ObserveApply(ev.Duration)
				m.SetApplied(time.Now())
			}
			if nw != nil {
				nw.Evaluated(ev)
			}
			uiEvaluated(ui, ev)
			if rs != nil {
				rs.Evaluated(ev)
			}
		},
	})

	// The last applied state first: a bad tip, a missing image source or
	// a failing build at restart never leaves the site without DHCP.
	snap, err := rec.Restore()
	if err != nil {
		log.Error("the last applied state cannot be restored; building its commit again", "err", err)
		if snap, err = rec.RebuildApplied(ctx); err != nil {
			log.Error("the last applied commit cannot be built again; starting from the branch tip", "err", err)
		}
	}
	if snap != nil {
		inv, _ := rec.Running()
		m.SetApplied(inv.AppliedAt)
		log.Info("serving the last applied state", "commit", reconcile.Short(inv.Commit), "applied_at", inv.AppliedAt)
	} else {
		ev, err := rec.ReconcileOnce(ctx, reconcile.Options{})
		if err != nil {
			var ce *reconcile.ConfigError
			if errors.As(err, &ce) {
				return &InvalidTipError{Repo: cfg.Repo, ConfigError: ce}
			}
			return err
		}
		if ev.Result == reconcile.ResultPlanned {
			return fmt.Errorf("commit %s is planned, not applied (auto_apply = false) and nothing was applied yet: "+
				"apply it first with gitboot apply --repo %s --ref %s --state %s", ev.Commit.Short(), cfg.Repo, cfg.Ref, cfg.State)
		}
		snap = rec.Snapshot()
	}

	store, err := status.Open(status.Config{Dir: cfg.State, Logger: log.With("svc", "status")})
	if statefile.SetAside(log, err, "node status starts empty") {
		store, err = status.Open(status.Config{Dir: cfg.State, Logger: log.With("svc", "status")})
	}
	if err != nil {
		return err
	}
	reloads.setStore(store)
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("saving node status", "err", err)
		}
	}()
	var s *services
	rs = newRolloutService(&rolloutService{log: log, src: src, vars: cfg.Vars, server: cfg.Server, roots: roots,
		creds: cfg.BMCCredentials, store: store, notes: nw, snapshot: func() *bootsvc.Snapshot { return s.http.Snapshot() }}, cfg.State)
	var uiHandler http.Handler
	if cfg.UI {
		inv, _ := rec.Running()
		ui = newUI(log, store, func() *bootsvc.Snapshot { return s.http.Snapshot() }, inv)
		uiHandler = ui
		rs.ui = ui
	}
	s = &services{
		log: log, parent: ctx, listenHTTP: cfg.ListenHTTP, listenTFTP: cfg.ListenTFTP, errc: make(chan error, 8),
		http: httpboot.New(httpboot.Config{Snapshot: snap, Status: store, Metrics: m, Logger: log.With("svc", "http"),
			Inventory: rec.InventoryJSON, Reconcile: func() { rec.Trigger(false) }, Apply: applyHandler(rec), UI: uiHandler, Power: powerHandler(rec, cfg.BMCCredentials),
			CheckPath: CheckPathHandler(roots), MaxConnsPerClient: cfg.HTTPPerClient, Rollout: rs.mgr}),
		tftp: tftp.New(tftp.Config{Recorder: store, Metrics: m, Log: log.With("svc", "tftp"), MaxPerClient: cfg.TFTPPerClient}),
		newDHCP: func() (*dhcp.Server, error) {
			return dhcp.New(dhcp.Config{StateDir: cfg.State, Recorder: store, Metrics: m, Logger: log})
		},
		slots: map[string]*slot{},
	}
	if err := s.Start(snap); err != nil {
		return err
	}
	svcs = s
	inv, _ := rec.Running()
	log.Info("serving", "commit", reconcile.Short(inv.Commit), "server", snap.Server.Name, "nodes", len(snap.Nodes),
		"http", strings.Join(s.Addrs("http"), ","), "tftp", strings.Join(s.Addrs("tftp"), ","), "dhcp_mode", snap.Server.DHCPMode)

	g, gctx := errgroup.WithContext(ctx)
	if nw != nil {
		nw.store = store
		nw.SetServer(snap.Server.Name)
		g.Go(func() error { return nw.Run(gctx) })
	}
	if ui != nil {
		g.Go(func() error { return ui.Run(gctx) })
	}
	g.Go(func() error { return rec.Run(gctx, cfg.Poll) })
	g.Go(func() error { return rs.Run(gctx) })
	g.Go(func() error {
		// Artifacts never checked since written: a damaged one is removed
		// and what is served is built again.
		_ = builder.VerifyBackground(gctx, func() { rec.Trigger(true) })
		return nil
	})
	g.Go(func() error { return triggerOnHUP(gctx, rec) })
	if w, ok := src.(watcher); ok && cfg.Watch {
		g.Go(func() error {
			return w.Watch(gctx, cfg.Ref, 100*time.Millisecond, func() { rec.Trigger(false) })
		})
	}
	g.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case err := <-s.errc:
			return err
		}
	})
	err = g.Wait()
	if nw != nil {
		// What a rollout canceled by the stop recorded after the notes
		// writer's last flush.
		nw.flush(context.Background(), false)
	}
	s.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// watcher is a source that notices new commits at once (a local
// repository).
type watcher interface {
	Watch(ctx context.Context, ref string, debounce time.Duration, notify func()) error
}

// triggerOnHUP asks for a reconcile on every SIGHUP (also re-examining
// image sources).
func triggerOnHUP(ctx context.Context, rec *reconcile.Reconciler) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			rec.Trigger(true)
		}
	}
}
