package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
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
	"github.com/gitboot/gitboot/internal/statefile"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"
)

type serveFlags struct {
	repo, ref, state, server string
	listenHTTP, listenTFTP   string
	logFormat                string
	vars                     []string
	poll                     time.Duration
	watch                    bool
	notes                    bool
	notesInterval            time.Duration
	signing                  signingFlags
	agent                    string
	tftpPerClient            int
	httpPerClient            int
	reloadTimeout            time.Duration
	roots                    rootFlags
	ui                       bool
	bmcCredentials           string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --repo PATH|URL [--ref main] [--state DIR] [--server NAME] [--poll 30s]",
		Short: "Run the reconciler and the boot services (DHCP, TFTP, HTTP) for a repository's branch",
		Long: "Serve the tip of a branch of a git repository (bare or not: the committed tree, never the\n" +
			"work tree; or a remote URL cloned into --state): validate it, build its artifacts under\n" +
			"--state, and serve DHCP, TFTP and HTTP from one snapshot. At start the last applied state\n" +
			"(the inventory in --state) is served first, then the branch tip is resolved. A new commit\n" +
			"is noticed at once (the refs are watched; POST /reconcile from loopback; SIGHUP) and every\n" +
			"--poll as a backstop (which also re-examines image sources and fetches a remote), planned\n" +
			"against the running inventory and applied (unless the server block sets auto_apply =\n" +
			"false). An invalid commit is reported once (log, git note, GET /status, /metrics) and the\n" +
			"last good state stays served; so is a commit whose evaluation and build take longer than\n" +
			"--reload-timeout. Damaged state files are moved aside (NAME.corrupt-<time>) and damaged\n" +
			"artifacts rebuilt. SIGTERM or SIGINT stops all services, also in the middle of a build.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "git repository to serve: a path, or a remote URL (https://, ssh://, file://) (required)")
	fl.StringVar(&f.ref, "ref", "main", "branch (or tag, or commit) to serve")
	fl.StringVar(&f.state, "state", "/var/lib/gitboot", "state directory: inventory, artifacts, leases, node status")
	fl.StringVar(&f.server, "server", "", "server block to act as (needed when the repository declares several)")
	fl.StringVar(&f.listenHTTP, "listen-http", "", "HTTP listen address (default :http_port of the server block)")
	fl.StringVar(&f.listenTFTP, "listen-tftp", "", "TFTP listen address (default :tftp_port of the server block)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringArrayVar(&f.vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	fl.DurationVar(&f.poll, "poll", 30*time.Second, "re-check the branch, image sources and a remote this often (0: never)")
	fl.BoolVar(&f.notes, "notes", true, "write what is applied and each node's status to refs/notes/gitboot of the repository (pushed back to a remote)")
	fl.DurationVar(&f.notesInterval, "notes-interval", 30*time.Second, "write node status notes at most this often")
	fl.BoolVar(&f.watch, "watch", true, "notice pushes to a local repository at once (inotify on its refs); off: --poll, POST /reconcile and SIGHUP only")
	fl.StringVar(&f.agent, "agent", "", "the gitboot-agent binary put into every system overlay as /usr/lib/gitboot/gitboot-agent (default: gitboot-agent next to this executable, symlinks resolved)")
	fl.DurationVar(&f.reloadTimeout, "reload-timeout", 5*time.Minute, "reject a commit whose evaluation and build take longer than this as too expensive (the last good state stays served; 0: no limit)")
	fl.BoolVar(&f.ui, "ui", true, "serve the live web status page at GET / (and its events at GET /events) on the HTTP port")
	fl.IntVar(&f.tftpPerClient, "tftp-max-per-client", tftp.DefaultMaxPerClient, "TFTP transfers one client address may run at once; more get a TFTP error at once")
	fl.IntVar(&f.httpPerClient, "http-max-per-client", httpboot.DefaultMaxConnsPerClient, "HTTP connections one client address is served at once; as many more wait, beyond that 503")
	fl.StringVar(&f.bmcCredentials, "bmc-credentials", "", "BMC credentials file (HCL credentials blocks, never in git): read by POST /power (gitboot power --server), POST /rollout and rollout { auto = true }")
	f.signing.register(fl)
	f.roots.register(fl)
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func runServe(cmd *cobra.Command, f serveFlags) error {
	log, err := newLogger(cmd.ErrOrStderr(), f.logFormat)
	if err != nil {
		return err
	}
	if f.tftpPerClient < 1 || f.httpPerClient < 1 {
		return fmt.Errorf("--tftp-max-per-client %d, --http-max-per-client %d: both must be at least 1", f.tftpPerClient, f.httpPerClient)
	}
	opts, err := loadOptions(".", f.vars)
	if err != nil {
		return err
	}
	policy, err := f.signing.policy()
	if err != nil {
		return err
	}
	if policy != nil {
		log.Info("only commits signed by a trusted key are applied", "trusted_keys", policy)
	}
	roots, err := f.roots.roots()
	if err != nil {
		return err
	}
	if err := checkBMCCredentials(cmd.ErrOrStderr(), f.bmcCredentials); err != nil {
		return err
	}
	log.Info("image sources and ipxe_dir must lie in", "image_roots", strings.Join(roots.Images, ","), "ipxe_dirs", strings.Join(roots.IPXE, ","))
	if err := os.MkdirAll(f.state, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	unlock, err := lockState(f.state)
	if err != nil {
		return err
	}
	defer unlock()
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	src, err := openSource(ctx, f.repo, f.state)
	if err != nil {
		return err
	}
	var progress io.Writer
	if fd, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		progress = fd
	}
	builder, err := artifact.New(artifact.Config{StateDir: f.state, Logger: log, Progress: progress, Agent: f.agent})
	if err != nil {
		return err
	}
	m := metrics.New()
	m.SetBuildInfo(version, commit)
	reloads := &reloadWatch{m: m}
	var svcs *services // set once the services run; Publish before that only records
	var up atomic.Bool // svcs is set: a POST /apply may be published
	var nw *notesWriter
	var ui *webui.UI       // the status page, once the store is open (nil: --ui=false)
	var rs *rolloutService // rollouts, once the store is open
	if f.notes {
		if f.notesInterval <= 0 {
			return fmt.Errorf("--notes-interval %v: must be positive", f.notesInterval)
		}
		nw, err = newNotesWriter(log, repoPath(src), remoteOf(src), f.server, f.notesInterval, nil, func() *bootsvc.Snapshot {
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
		Source: src, Ref: f.ref, Server: f.server, Vars: opts.Vars, Builder: builder, StateDir: f.state, Logger: log,
		Verify: commitVerifier(src, policy), Roots: roots, ReloadTimeout: f.reloadTimeout,
		Publish: func(s *bootsvc.Snapshot) error {
			if !up.Load() {
				return nil // the first snapshot: the services start with it
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
				fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: commit %s of %s is invalid; nothing is served.\n\n", ce.Commit, f.repo)
				writeDiagnostics(cmd.ErrOrStderr(), ce.Files, ce.Diags)
				return exitError{1}
			}
			return err
		}
		if ev.Result == reconcile.ResultPlanned {
			return fmt.Errorf("commit %s is planned, not applied (auto_apply = false) and nothing was applied yet: "+
				"apply it first with gitboot apply --repo %s --ref %s --state %s", ev.Commit.Short(), f.repo, f.ref, f.state)
		}
		snap = rec.Snapshot()
	}

	store, err := status.Open(status.Config{Dir: f.state, Logger: log.With("svc", "status")})
	if statefile.SetAside(log, err, "node status starts empty") {
		store, err = status.Open(status.Config{Dir: f.state, Logger: log.With("svc", "status")})
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
	rs = newRolloutService(&rolloutService{log: log, src: src, vars: opts.Vars, server: f.server, roots: roots,
		creds: f.bmcCredentials, store: store, notes: nw, snapshot: func() *bootsvc.Snapshot { return s.http.Snapshot() }}, f.state)
	var uiHandler http.Handler
	if f.ui {
		inv, _ := rec.Running()
		ui = newUI(log, store, func() *bootsvc.Snapshot { return s.http.Snapshot() }, inv)
		uiHandler = ui
		rs.ui = ui
	}
	s = &services{
		log: log, parent: ctx, listenHTTP: f.listenHTTP, listenTFTP: f.listenTFTP, errc: make(chan error, 8),
		http: httpboot.New(httpboot.Config{Snapshot: snap, Status: store, Metrics: m, Logger: log.With("svc", "http"),
			Inventory: rec.InventoryJSON, Reconcile: func() { rec.Trigger(false) }, Apply: applyHandler(rec, up.Load), UI: uiHandler, Power: powerHandler(rec, f.bmcCredentials),
			CheckPath: checkPathHandler(roots), MaxConnsPerClient: f.httpPerClient, Rollout: rs.mgr}),
		tftp: tftp.New(tftp.Config{Recorder: store, Metrics: m, Log: log.With("svc", "tftp"), MaxPerClient: f.tftpPerClient}),
		newDHCP: func() (*dhcp.Server, error) {
			return dhcp.New(dhcp.Config{StateDir: f.state, Recorder: store, Metrics: m, Logger: log})
		},
		slots: map[string]*slot{},
	}
	if err := s.Start(snap); err != nil {
		return err
	}
	svcs = s
	up.Store(true)
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
	g.Go(func() error { return rec.Run(gctx, f.poll) })
	g.Go(func() error { return rs.Run(gctx) })
	g.Go(func() error {
		// Artifacts never checked since written: a damaged one is removed
		// and what is served is built again.
		_ = builder.VerifyBackground(gctx, func() { rec.Trigger(true) })
		return nil
	})
	g.Go(func() error { return triggerOnHUP(gctx, rec) })
	if w, ok := src.(watcher); ok && f.watch {
		g.Go(func() error {
			return w.Watch(gctx, f.ref, 100*time.Millisecond, func() { rec.Trigger(false) })
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

// applyHandler answers POST /apply: it applies the saved plan in the body
// (refused when stale) and answers with the result as JSON. Until ready
// (the boot services run) it refuses with 503: a plan applied then would be
// recorded but never published.
func applyHandler(rec *reconcile.Reconciler, ready func() bool) func(context.Context, []byte) (int, []byte) {
	return func(ctx context.Context, body []byte) (int, []byte) {
		answer := func(code int, r *applyResult) (int, []byte) {
			data, _ := json.Marshal(r)
			return code, append(data, '\n')
		}
		if !ready() {
			return answer(http.StatusServiceUnavailable, &applyResult{Error: "the server is starting: its boot services are not up yet; try again"})
		}
		p, err := decodePlan(body, "the request body")
		if err != nil {
			return answer(http.StatusBadRequest, &applyResult{Error: err.Error()})
		}
		if !httpboot.Forced(ctx) {
			if err := rec.CheckOnBranch(p.Commit); err != nil {
				return answer(http.StatusConflict, &applyResult{Commit: p.Commit, Error: err.Error()})
			}
		}
		ev, err := rec.ApplyPlan(ctx, p)
		r := resultOf(ev, err)
		var se *reconcile.StaleError
		switch {
		case err == nil:
			return answer(http.StatusOK, r)
		case errors.As(err, &se):
			return answer(http.StatusConflict, r)
		case reconcile.IsConfigError(err):
			return answer(http.StatusUnprocessableEntity, r)
		}
		return answer(http.StatusInternalServerError, r)
	}
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

// raInterfaces returns the interfaces to send IPv6 router advertisements
// on: the server's DHCP interface when it names one, else every interface
// with an IPv4 address inside a served network.
func raInterfaces(snap *bootsvc.Snapshot) []string {
	if snap.Server.Interface != "" {
		return []string{snap.Server.Interface}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			if _, served := snap.NetworkContaining(ip.Unmap()); served {
				out = append(out, ifi.Name)
				break
			}
		}
	}
	return out
}
