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
	"sync/atomic"
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
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/internal/statefile"
	"github.com/gitboot/gitboot/internal/tlsca"
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
	// Policy is the signature policy to enforce; Signing the flags that
	// set it. Run enforces the policy recorded in State (recording
	// Signing's when it asks for one), else Policy.
	Policy  *gitsrc.Policy
	Signing reconcile.PolicyFlags
	// Remote is the credentials and timeout for a remote Repo (fetches
	// and notes pushes).
	Remote         gitsrc.RemoteOptions
	Agent          string // gitboot-agent binary for the system overlays
	TFTPPerClient  int
	HTTPPerClient  int
	MaxBooting     int // boots DHCP lets run at once (dhcp.Admission); 0: no limit
	ReloadTimeout  time.Duration
	Roots          hclspec.Roots
	UI             bool   // serve the web status page
	BMCCredentials string // credentials file ("": none)
	// ListenAdmin is the admin listener's address: the page, /events,
	// /status, /inventory, /metrics, /check-path, /rollout, POST
	// /reconcile, /apply, /power ("": none; DefaultListenAdmin is the
	// flag's default). A non-loopback address needs AdminToken.
	ListenAdmin     string
	AdminToken      string // bearer token the admin listener requires ("": none)
	TLSCert, TLSKey string // the agents' HTTPS certificate and key ("": issued by the CA in State/tls)

	// AgeIdentities are the age identity files that decrypt the
	// repository's secrets; none: State/age-identity.secret, created at
	// first start (internal/agesecret).
	AgeIdentities []string

	Logger   *slog.Logger
	Progress io.Writer // build progress (a terminal), or nil

	Version, Commit string // of the gitboot binary (gitboot_build_info)
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger
	if cfg.TFTPPerClient < 1 || cfg.HTTPPerClient < 1 {
		return fmt.Errorf("--tftp-max-per-client %d, --http-max-per-client %d: both must be at least 1", cfg.TFTPPerClient, cfg.HTTPPerClient)
	}
	log.Info("image sources and ipxe_dir must lie in", "image_roots", strings.Join(cfg.Roots.Images, ","), "ipxe_dirs", strings.Join(cfg.Roots.IPXE, ","))
	if err := os.MkdirAll(cfg.State, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	unlock, err := LockState(cfg.State)
	if err != nil {
		return err
	}
	defer unlock()
	// The policy recorded in the state binds, flags or not
	// (reconcile/policy.go); the flags' is recorded when none is.
	if cfg.Signing.Require || cfg.Signing.KeysFile != "" || cfg.Policy == nil {
		if cfg.Policy, _, err = reconcile.EnforcedPolicy(cfg.State, cfg.Signing, true); err != nil {
			return err
		}
	} else if recorded, err := reconcile.ReadPolicy(cfg.State); err != nil {
		return err
	} else if recorded != nil {
		if cfg.Policy, err = recorded.Keys(cfg.State); err != nil {
			return err
		}
	}
	if cfg.Policy != nil {
		log.Info("only commits signed by a trusted key are applied", "trusted_keys", cfg.Policy)
	}
	if err := cfg.Remote.Check(); err != nil {
		return err
	}
	if err := checkAdmin(cfg.ListenAdmin, cfg.AdminToken); err != nil {
		return err
	}
	s, err := newServer(ctx, cfg)
	if err != nil {
		return err
	}
	snap, err := s.firstSnapshot(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		log.Info("stopped") // while waiting for a trusted commit
		return nil
	}
	if err != nil {
		return err
	}
	releaseMemory()
	store, err := status.Open(status.Config{Dir: cfg.State, Logger: log.With("svc", "status")})
	if statefile.SetAside(log, err, "node status starts empty") {
		store, err = status.Open(status.Config{Dir: cfg.State, Logger: log.With("svc", "status")})
	}
	if err != nil {
		return err
	}
	s.reloads.setStore(store)
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("saving node status", "err", err)
		}
	}()
	if err := s.start(ctx, store, snap); err != nil {
		s.admin.Close()
		return err
	}
	defer s.admin.Close()
	err = s.wait(ctx, store, snap)
	log.Info("stopped")
	return err
}

// server is one Run: the reconciler and what it feeds, wired together.
type server struct {
	cfg     Config
	log     *slog.Logger
	src     reconcile.Source
	builder *artifact.Builder
	m       *metrics.Metrics
	reloads *reloadWatch
	rec     *reconcile.Reconciler
	svcs    *services       // set once the services run; Publish before that only records
	up      atomic.Bool     // svcs is set: a snapshot may be published (POST /apply is accepted)
	admin   *adminListener  // nil: no admin listener
	nw      *notesWriter    // nil: --notes=false
	ui      *webui.UI       // the status page, once the store is open (nil: --ui=false)
	rs      *rolloutService // rollouts, once the store is open
	trust   *tlsca.Bundle   // the agents' HTTPS certificate material and the overlay key
}

// newServer opens the source and the build state and wires the
// reconciler to metrics, the reload watch, the notes writer, the status
// page and rollouts (those two once they exist).
func newServer(ctx context.Context, cfg Config) (*server, error) {
	s := &server{cfg: cfg, log: cfg.Logger, m: metrics.New()}
	s.m.SetBuildInfo(cfg.Version, cfg.Commit)
	s.reloads = &reloadWatch{m: s.m}
	var err error
	if s.src, err = openSource(ctx, cfg.Repo, cfg.State, cfg.Remote); err != nil {
		return nil, err
	}
	if s.trust, err = loadTrust(cfg); err != nil {
		return nil, err
	}
	secrets, err := agesecret.Open(cfg.State, cfg.AgeIdentities, true)
	if err != nil {
		return nil, err
	}
	s.log.Info("repository secrets (.age files) are decrypted with the age identity of", "recipient", secrets.Recipient())
	s.builder, err = artifact.New(artifact.Config{StateDir: cfg.State, Logger: s.log, Progress: cfg.Progress, Agent: cfg.Agent, Trust: artifactTrust(s.trust), Secrets: secrets})
	if err != nil {
		return nil, err
	}
	if cfg.Notes {
		if cfg.NotesInterval <= 0 {
			return nil, fmt.Errorf("--notes-interval %v: must be positive", cfg.NotesInterval)
		}
		s.nw, err = newNotesWriter(s.log, repoPath(s.src), remoteOf(s.src), cfg.Server, cfg.NotesInterval, nil, s.served)
		if err != nil {
			return nil, err
		}
		s.nw.notes.Remote = cfg.Remote
	}
	s.rec = reconcile.New(reconcile.Config{
		Source: s.src, Ref: cfg.Ref, Server: cfg.Server, Vars: cfg.Vars, Builder: s.builder, StateDir: cfg.State, Logger: s.log,
		Verify: CommitVerifier(s.src, cfg.Policy), Roots: cfg.Roots, ReloadTimeout: cfg.ReloadTimeout,
		Publish: func(snap *bootsvc.Snapshot) error {
			if !s.up.Load() {
				return nil // the first snapshot: the services start with it
			}
			return s.svcs.Publish(snap)
		},
		OnEvaluated: s.evaluated,
	})
	return s, nil
}

// served is the snapshot the services serve (nil before they start).
func (s *server) served() *bootsvc.Snapshot {
	if !s.up.Load() {
		return nil
	}
	return s.svcs.http.Snapshot()
}

// evaluated hands one evaluation to everything that shows it (the
// reconciler's OnEvaluated).
func (s *server) evaluated(ev reconcile.Evaluation) {
	s.m.ObserveReconcile(ev.Result)
	s.reloads.evaluated(ev)
	if ev.Result == reconcile.ResultApplied {
		s.m.ObserveBuild(ev.Build)
		s.m.ObserveApply(ev.Duration)
		s.m.SetApplied(time.Now())
		defer releaseMemory()
	}
	if s.nw != nil {
		s.nw.Evaluated(ev)
	}
	uiEvaluated(s.ui, ev)
	if s.rs != nil {
		s.rs.Evaluated(ev)
	}
}

// firstSnapshot is what to serve first: the last applied state (a bad
// tip, a missing image source or a failing build at restart never leaves
// the site without DHCP), built again if it must be, else the branch tip.
func (s *server) firstSnapshot(ctx context.Context) (*bootsvc.Snapshot, error) {
	rec, log := s.rec, s.log
	snap, err := rec.Restore()
	var untrusted *reconcile.UntrustedStateError
	if errors.As(err, &untrusted) {
		log.Error("the last applied state is not served; starting from the branch tip", "err", err)
	} else if err != nil {
		log.Error("the last applied state cannot be restored; building its commit again", "err", err)
		if snap, err = rec.RebuildApplied(ctx); err != nil {
			log.Error("the last applied commit cannot be built again; starting from the branch tip", "err", err)
		}
	}
	if snap != nil {
		inv := rec.RunningInventory()
		s.m.SetApplied(inv.AppliedAt)
		log.Info("serving the last applied state", "commit", reconcile.Short(inv.Commit), "applied_at", inv.AppliedAt)
		return snap, nil
	}
	ev, err := rec.ReconcileOnce(ctx, reconcile.Options{})
	var ce *reconcile.ConfigError
	if errors.As(err, &ce) && untrusted != nil {
		// Neither the applied commit nor the tip passes the signature
		// policy: stay up serving nothing until a trusted commit comes.
		ev, err = s.waitTrusted(ctx, ce)
	} else if errors.As(err, &ce) {
		return nil, &InvalidTipError{Repo: s.cfg.Repo, ConfigError: ce}
	}
	if err != nil {
		return nil, err
	}
	if ev.Result == reconcile.ResultPlanned {
		return nil, fmt.Errorf("commit %s is planned, not applied (auto_apply = false) and nothing was applied yet: "+
			"apply it first with gitboot apply --repo %s --ref %s --state %s", ev.Commit.Short(), s.cfg.Repo, s.cfg.Ref, s.cfg.State)
	}
	return rec.Snapshot(), nil
}

// start makes the rollout service and the status page on store and binds
// and starts the boot services with snap.
func (s *server) start(ctx context.Context, store *status.Store, snap *bootsvc.Snapshot) error {
	cfg, log, rec := s.cfg, s.log, s.rec
	var svcs *services
	current := func() *bootsvc.Snapshot { return svcs.http.Snapshot() }
	s.rs = newRolloutService(&rolloutService{log: log, src: s.src, vars: cfg.Vars, server: cfg.Server, roots: cfg.Roots,
		creds: cfg.BMCCredentials, store: store, notes: s.nw, snapshot: current}, cfg.State)
	var uiHandler http.Handler
	if cfg.UI {
		inv := rec.RunningInventory()
		s.ui = newUI(log, store, current, inv)
		uiHandler = s.ui
		s.rs.ui = s.ui
	}
	seen := dhcp.NewSeen() // what DHCP showed each node's address to be, for HTTP's own-address check
	var adm *dhcp.Admission
	var bootRec status.Recorder = store // what TFTP and HTTP record into
	if cfg.MaxBooting > 0 {
		adm = dhcp.NewAdmission(dhcp.AdmissionConfig{Limit: cfg.MaxBooting})
		bootRec = adm.Recorder(store)
		s.m.SetAdmission(admissionFigures(adm, cfg.MaxBooting))
	}
	svcs = &services{
		log: log, parent: ctx, listenHTTP: cfg.ListenHTTP, listenTFTP: cfg.ListenTFTP, errc: make(chan error, 8),
		http: httpboot.New(httpboot.Config{Snapshot: snap, Status: store, Recorder: bootRec, Metrics: s.m, Logger: log.With("svc", "http"),
			Inventory: rec.ServedInventory, Reconcile: func() { rec.Trigger(false) }, Apply: applyHandler(rec, s.up.Load), UI: uiHandler, Power: powerHandler(rec, cfg.BMCCredentials),
			CheckPath: CheckPathHandler(cfg.Roots), MaxConnsPerClient: cfg.HTTPPerClient, Rollout: s.rs.mgr,
			DHCPAddr: seen.Addr, AssetKeySecret: rec.AssetKeySecret(),
			OverlayKey: s.trust.OverlayKey}),
		tftp: tftp.New(tftp.Config{Recorder: bootRec, Metrics: s.m, Log: log.With("svc", "tftp"), MaxPerClient: cfg.TFTPPerClient}),
		newDHCP: func() (*dhcp.Server, error) {
			return dhcp.New(dhcp.Config{StateDir: cfg.State, Recorder: store, Metrics: s.m, Logger: log, Seen: seen, Admission: adm})
		},
		slots:    map[string]*slot{},
		agentTLS: s.trust,
	}
	admin, err := listenAdmin(cfg.ListenAdmin, cfg.AdminToken)
	if err != nil {
		return err
	}
	if err := svcs.Start(snap); err != nil {
		admin.Close()
		return err
	}
	s.svcs, s.admin = svcs, admin
	s.up.Store(true)
	inv := rec.RunningInventory()
	log.Info("serving", "commit", reconcile.Short(inv.Commit), "server", snap.Server.Name, "nodes", len(snap.Nodes),
		"http", strings.Join(svcs.Addrs("http"), ","), "https", strings.Join(svcs.Addrs("https"), ","), "admin", admin.Addr(), "tftp", strings.Join(svcs.Addrs("tftp"), ","), "dhcp_mode", snap.Server.DHCPMode)
	return nil
}

// wait runs the reconciler, the notes writer, the status page, rollouts,
// the artifact check and the triggers until ctx is done or a service
// fails, then stops the services.
func (s *server) wait(ctx context.Context, store *status.Store, snap *bootsvc.Snapshot) error {
	rec := s.rec
	g, gctx := errgroup.WithContext(ctx)
	if s.nw != nil {
		s.nw.store = store
		s.nw.SetServer(snap.Server.Name)
		g.Go(func() error { return s.nw.Run(gctx) })
	}
	if s.ui != nil {
		g.Go(func() error { return s.ui.Run(gctx) })
	}
	g.Go(func() error { return rec.Run(gctx, s.cfg.Poll) })
	g.Go(func() error { return s.rs.Run(gctx) })
	g.Go(func() error { return s.admin.Serve(gctx, s.svcs.http) })
	g.Go(func() error {
		// Artifacts never checked since written: a damaged one is removed
		// and what is served is built again.
		_ = s.builder.VerifyBackground(gctx, func() { rec.Trigger(true) })
		return nil
	})
	g.Go(func() error { return triggerOnHUP(gctx, rec) })
	if w, ok := s.src.(watcher); ok && s.cfg.Watch {
		g.Go(func() error {
			// A failed watch (the inotify limit) is logged and polled
			// instead: it never stops DHCP, TFTP or HTTP.
			w.WatchOrPoll(gctx, s.cfg.Ref, 100*time.Millisecond, 0, s.log, func() { rec.Trigger(false) })
			return nil
		})
	}
	g.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case err := <-s.svcs.errc:
			return err
		}
	})
	err := g.Wait()
	if s.nw != nil {
		// What a rollout canceled by the stop recorded after the notes
		// writer's last flush.
		s.nw.flush(context.Background(), false)
	}
	s.svcs.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// watcher is a source that notices new commits at once (a local
// repository).
type watcher interface {
	WatchOrPoll(ctx context.Context, ref string, debounce, poll time.Duration, log *slog.Logger, notify func())
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
