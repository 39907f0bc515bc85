package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/dhcp"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/bootsvc/tftp"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"
)

type serveFlags struct {
	repo, ref, state, server string
	listenHTTP, listenTFTP   string
	logFormat                string
	vars                     []string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --repo PATH [--ref main] [--state DIR] [--server NAME]",
		Short: "Run the boot services (DHCP, TFTP, HTTP) for a repository's branch",
		Long: "Serve the tip of a branch of a git repository (bare or not; the committed tree, never\n" +
			"the work tree): validate it, build its artifacts under --state, and serve DHCP, TFTP and\n" +
			"HTTP from one snapshot. SIGHUP re-reads the branch tip (an invalid commit is reported and\n" +
			"the last good state stays served); SIGTERM or SIGINT stops all services.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "git repository to serve (required)")
	fl.StringVar(&f.ref, "ref", "main", "branch (or tag, or commit) to serve")
	fl.StringVar(&f.state, "state", "/var/lib/gitboot", "state directory: artifacts, leases, node status")
	fl.StringVar(&f.server, "server", "", "server block to act as (needed when the repository declares several)")
	fl.StringVar(&f.listenHTTP, "listen-http", "", "HTTP listen address (default :http_port of the server block)")
	fl.StringVar(&f.listenTFTP, "listen-tftp", "", "TFTP listen address (default :tftp_port of the server block)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringArrayVar(&f.vars, "var", nil, "set an input variable: --var name=value (repeatable)")
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
	opts, err := loadOptions(".", f.vars)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.state, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	src, err := gitsrc.Open(f.repo)
	if err != nil {
		return err
	}
	var progress io.Writer
	if fd, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		progress = fd
	}
	builder, err := artifact.New(artifact.Config{StateDir: f.state, Logger: log, Progress: progress})
	if err != nil {
		return err
	}
	rec := reconcile.New(reconcile.Config{Source: src, Ref: f.ref, Server: f.server, Vars: opts.Vars, Builder: builder, Logger: log})

	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	metrics := httpboot.NewMetrics()
	applied, _, err := reconcileObserved(ctx, rec, metrics)
	if err != nil {
		var ce *reconcile.ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: commit %s of %s is invalid; nothing is served.\n\n", ce.Commit, f.repo)
			writeDiagnostics(cmd.ErrOrStderr(), ce.Files, ce.Diags)
			return exitError{1}
		}
		return err
	}
	snap := applied.Snapshot

	store, err := status.Open(status.Config{Dir: f.state})
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("saving node status", "err", err)
		}
	}()
	httpSvc := httpboot.New(httpboot.Config{Snapshot: snap, Status: store, Metrics: metrics, Logger: log.With("svc", "http")})
	tftpSvc := tftp.New(tftp.Config{Recorder: store, Metrics: metrics, Log: log.With("svc", "tftp")})
	tftpSvc.Update(snap)
	var dhcpSvc *dhcp.Server
	if snap.Server.DHCPMode != bootsvc.DHCPOff {
		dhcpSvc, err = dhcp.New(dhcp.Config{StateDir: f.state, Recorder: store, Metrics: metrics, Logger: log})
		if err != nil {
			return err
		}
		dhcpSvc.Update(snap)
	}

	// Bind every socket before serving any, so a busy port fails the start.
	httpAddr := f.listenHTTP
	if httpAddr == "" {
		httpAddr = ":" + strconv.Itoa(snap.Server.HTTPPort)
	}
	httpLn, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("HTTP on %s: %w (change http_port in the server block or use --listen-http)", httpAddr, err)
	}
	tftpAddr := netip.AddrPortFrom(netip.Addr{}, uint16(snap.Server.TFTPPort))
	if f.listenTFTP != "" {
		if tftpAddr, err = netip.ParseAddrPort(f.listenTFTP); err != nil {
			return fmt.Errorf("--listen-tftp %q: %w", f.listenTFTP, err)
		}
	}
	tftpConn, err := tftp.Listen(tftpAddr)
	if err != nil {
		httpLn.Close()
		return err
	}
	var dhcpConns []net.PacketConn
	if dhcpSvc != nil {
		ports := []int{snap.Server.DHCPPort}
		if snap.Server.DHCPMode == bootsvc.DHCPProxy {
			ports = append(ports, dhcp.ProxyPort)
		}
		for _, p := range ports {
			c, err := dhcp.Listen(ctx, dhcp.ListenConfig{Interface: snap.Server.Interface, Port: p, Shared: snap.Server.DHCPMode == bootsvc.DHCPProxy})
			if err != nil {
				httpLn.Close()
				tftpConn.Close()
				for _, c := range dhcpConns {
					c.Close()
				}
				return err
			}
			dhcpConns = append(dhcpConns, c)
		}
	}
	raConns := map[string]*dhcp.RAConn{}
	if dhcpSvc != nil && snap.Server.RouterAdvert {
		for _, ifname := range raInterfaces(snap) {
			c, err := dhcp.ListenRA(ifname)
			if err != nil {
				log.Warn("no IPv6 router advertisements: iPXE will wait ~16 s for IPv6 on every boot", "interface", ifname, "err", err)
				continue
			}
			raConns[ifname] = c
		}
	}
	log.Info("serving", "commit", applied.Commit.Short(), "server", snap.Server.Name, "nodes", len(snap.Nodes),
		"http", httpLn.Addr().String(), "tftp", tftpConn.LocalAddr().String(), "dhcp_mode", snap.Server.DHCPMode)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpSvc.Serve(gctx, httpLn) })
	g.Go(func() error { return tftpSvc.Serve(gctx, tftpConn) })
	for _, c := range dhcpConns {
		g.Go(func() error { return dhcpSvc.Serve(gctx, c) })
	}
	for ifname, c := range raConns {
		g.Go(func() error { return dhcp.ServeRA(gctx, dhcp.RAConfig{Interface: ifname, Logger: log}, c) })
	}
	g.Go(func() error {
		return reloadOnHUP(gctx, log, rec, metrics, func(s *bootsvc.Snapshot) {
			if s.Server.HTTPPort != snap.Server.HTTPPort || s.Server.TFTPPort != snap.Server.TFTPPort ||
				s.Server.DHCPPort != snap.Server.DHCPPort || s.Server.DHCPMode != snap.Server.DHCPMode || s.Server.Interface != snap.Server.Interface {
				log.Warn("ports, interface or dhcp_mode changed: restart gitboot serve to apply them")
			}
			httpSvc.Update(s)
			tftpSvc.Update(s)
			if dhcpSvc != nil {
				dhcpSvc.Update(s)
			}
		})
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// reloadOnHUP re-reads the branch tip on every SIGHUP and publishes a new
// snapshot when it changed; failures are logged and the last good state
// stays.
func reloadOnHUP(ctx context.Context, log *slog.Logger, rec *reconcile.Reconciler, metrics *httpboot.Metrics, publish func(*bootsvc.Snapshot)) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			applied, changed, err := reconcileObserved(ctx, rec, metrics)
			switch {
			case err != nil:
				log.Error("reload failed; the last good state stays served", "err", err)
			case changed:
				publish(applied.Snapshot)
			default:
				log.Info("reload: nothing changed", "commit", applied.Commit.Short())
			}
		}
	}
}

// reconcileObserved runs one reconcile and records its build and apply
// durations in the metrics served at /metrics.
func reconcileObserved(ctx context.Context, rec *reconcile.Reconciler, metrics *httpboot.Metrics) (*reconcile.Applied, bool, error) {
	start := time.Now()
	applied, changed, err := rec.ReconcileOnce(ctx)
	if err == nil && changed {
		metrics.ObserveBuild(applied.Result.Duration)
		metrics.ObserveApply(time.Since(start))
	}
	return applied, changed, err
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
