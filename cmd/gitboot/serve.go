package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/tftp"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/serve"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type serveFlags struct {
	repo, ref, state, server string
	listenHTTP, listenTFTP   string
	listenAdmin              string
	logFormat                string
	vars                     []string
	poll                     time.Duration
	watch                    bool
	notes                    bool
	notesInterval            time.Duration
	signing                  signingFlags
	git                      gitRemoteFlags
	agent                    string
	tftpPerClient            int
	httpPerClient            int
	reloadTimeout            time.Duration
	roots                    rootFlags
	ui                       bool
	bmcCredentials           string
	tls                      tlsFlags

	age ageFlags
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
			"is noticed at once (the refs are watched; POST /reconcile on the admin listener; SIGHUP) and every\n" +
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
	fl.StringVar(&f.listenAdmin, "listen-admin", defaultListenAdmin, "admin listener: the status page, /events, /status, /inventory, /metrics, /check-path, /rollout, POST /reconcile, /apply, /power (the clients' --server); a non-loopback address needs --admin-token-file; empty: none")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringArrayVar(&f.vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	fl.DurationVar(&f.poll, "poll", 30*time.Second, "re-check the branch, image sources and a remote this often (0: never)")
	fl.BoolVar(&f.notes, "notes", true, "write what is applied and each node's status to refs/notes/gitboot of the repository (pushed back to a remote)")
	fl.DurationVar(&f.notesInterval, "notes-interval", 30*time.Second, "write node status notes at most this often")
	fl.BoolVar(&f.watch, "watch", true, "notice pushes to a local repository at once (inotify on its refs); off: --poll, POST /reconcile and SIGHUP only")
	fl.StringVar(&f.agent, "agent", "", "the gitboot-agent binary put into every system overlay as /usr/lib/gitboot/gitboot-agent (default: gitboot-agent next to this executable, symlinks resolved)")
	fl.DurationVar(&f.reloadTimeout, "reload-timeout", 5*time.Minute, "reject a commit whose evaluation and build take longer than this as too expensive (the last good state stays served; 0: no limit)")
	fl.BoolVar(&f.ui, "ui", true, "serve the live web status page at GET / (and its events at GET /events) on the admin listener")
	fl.IntVar(&f.tftpPerClient, "tftp-max-per-client", tftp.DefaultMaxPerClient, "TFTP transfers one client address may run at once; more get a TFTP error at once")
	fl.IntVar(&f.httpPerClient, "http-max-per-client", httpboot.DefaultMaxConnsPerClient, "HTTP connections one client address is served at once; as many more wait, beyond that 503")
	fl.StringVar(&f.bmcCredentials, "bmc-credentials", "", "BMC credentials file (HCL credentials blocks, never in git): read by POST /power (gitboot power --server), POST /rollout and rollout { auto = true }")
	f.signing.register(fl)
	f.git.register(fl)
	f.roots.register(fl)
	f.tls.register(fl)
	f.age.register(fl)
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
	// The flags' policy is checked here; the one recorded in the state
	// binds, flags or not (serve.Run, once it holds the state's lock).
	if _, err := f.signing.policy(); err != nil {
		return err
	}
	if err := f.git.opts.Check(); err != nil {
		return err
	}
	roots, err := f.roots.roots()
	if err != nil {
		return err
	}
	if err := checkBMCCredentials(cmd.ErrOrStderr(), f.bmcCredentials); err != nil {
		return err
	}
	adminTok, err := adminToken()
	if err != nil {
		return err
	}
	var progress io.Writer
	if fd, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		progress = fd
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = serve.Run(ctx, serve.Config{
		Repo: f.repo, Ref: f.ref, State: f.state, Server: f.server,
		ListenHTTP: f.listenHTTP, ListenTFTP: f.listenTFTP, Vars: opts.Vars,
		Poll: f.poll, Watch: f.watch, Notes: f.notes, NotesInterval: f.notesInterval,
		Signing: reconcile.PolicyFlags{Require: f.signing.require, KeysFile: f.signing.keys, Command: "gitboot serve"},
		Remote:  f.git.opts, Agent: f.agent, TFTPPerClient: f.tftpPerClient, HTTPPerClient: f.httpPerClient,
		ReloadTimeout: f.reloadTimeout, Roots: roots, UI: f.ui, BMCCredentials: f.bmcCredentials,
		ListenAdmin: f.listenAdmin, AdminToken: adminTok,
		TLSCert: f.tls.cert, TLSKey: f.tls.key, AgeIdentities: f.age.files,
		Logger: log, Progress: progress, Version: version, Commit: commit,
	})
	var bad *serve.InvalidTipError
	if errors.As(err, &bad) {
		fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: commit %s of %s is invalid; nothing is served.\n\n", bad.Commit, bad.Repo)
		writeDiagnostics(cmd.ErrOrStderr(), bad.Files, bad.Diags)
		return exitError{1}
	}
	return err
}

// checkBMCCredentials reads serve's --bmc-credentials at start, so that a
// broken file is said at once (it is read again on every POST /power).
func checkBMCCredentials(stderr io.Writer, path string) error {
	if path == "" {
		return nil
	}
	_, diags := power.LoadCredentials(path)
	if len(diags) > 0 {
		writeDiagnostics(stderr, credFiles(path), diags)
	}
	if diags.HasErrors() {
		return fmt.Errorf("--bmc-credentials %s: the file has errors", path)
	}
	return nil
}
