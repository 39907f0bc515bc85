package main

import (
	"time"

	"github.com/gitboot/gitboot/bootsvc/dhcp"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/tftp"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/serve"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var c serve.Command
	var sign signingFlags
	var roots rootFlags
	var age ageFlags
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
			c.Signing = reconcile.PolicyFlags{Require: sign.require, KeysFile: sign.keys, Command: "gitboot serve"}
			c.RootsFunc, c.AdminToken, c.AgeIdentities = roots.roots, adminToken, age.files
			c.Stderr, c.Version, c.Commit = cmd.ErrOrStderr(), version, commit
			return c.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.Repo, "repo", "", "git repository to serve: a path, or a remote URL (https://, ssh://, file://) (required)")
	fl.StringVar(&c.Ref, "ref", "main", "branch (or tag, or commit) to serve")
	fl.StringVar(&c.State, "state", "/var/lib/gitboot", "state directory: inventory, artifacts, leases, node status")
	fl.StringVar(&c.Server, "server", "", "server block to act as (needed when the repository declares several)")
	fl.StringVar(&c.ListenHTTP, "listen-http", "", "HTTP listen address (default :http_port of the server block)")
	fl.StringVar(&c.ListenTFTP, "listen-tftp", "", "TFTP listen address (default :tftp_port of the server block)")
	fl.StringVar(&c.ListenAdmin, "listen-admin", defaultListenAdmin, "admin listener: the status page, /events, /status, /inventory, /metrics, /check-path, /rollout, POST /reconcile, /apply, /power (the clients' --server); a non-loopback address needs --admin-token-file; empty: none")
	fl.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fl.StringArrayVar(&c.VarArgs, "var", nil, "set an input variable: --var name=value (repeatable)")
	fl.DurationVar(&c.Poll, "poll", 30*time.Second, "re-check the branch, image sources and a remote this often (0: never)")
	fl.BoolVar(&c.Notes, "notes", true, "write what is applied and each node's status to refs/notes/gitboot of the repository (pushed back to a remote)")
	fl.DurationVar(&c.NotesInterval, "notes-interval", 30*time.Second, "write node status notes at most this often")
	fl.BoolVar(&c.Watch, "watch", true, "notice pushes to a local repository at once (inotify on its refs); off: --poll, POST /reconcile and SIGHUP only")
	fl.StringVar(&c.Agent, "agent", "", "the gitboot-agent binary put into every system overlay as /usr/lib/gitboot/gitboot-agent (default: gitboot-agent next to this executable, symlinks resolved)")
	fl.DurationVar(&c.ReloadTimeout, "reload-timeout", 5*time.Minute, "reject a commit whose evaluation and build take longer than this as too expensive (the last good state stays served; 0: no limit)")
	fl.BoolVar(&c.UI, "ui", true, "serve the live web status page at GET / (and its events at GET /events) on the admin listener")
	fl.IntVar(&c.TFTPPerClient, "tftp-max-per-client", tftp.DefaultMaxPerClient, "TFTP transfers one client address may run at once; more get a TFTP error at once")
	fl.IntVar(&c.HTTPPerClient, "http-max-per-client", httpboot.DefaultMaxConnsPerClient, "HTTP connections one client address is served at once; as many more wait, beyond that 503")
	fl.IntVar(&c.MaxBooting, "dhcp-max-booting", dhcp.DefaultMaxBooting, "boots DHCP lets run at once (firmware DISCOVER to last initrd); more DISCOVERs wait in a queue for one to end (0: no limit)")
	fl.StringVar(&c.BMCCredentials, "bmc-credentials", "", "BMC credentials file (HCL credentials blocks, never in git): read by POST /power (gitboot power --server), POST /rollout and rollout { auto = true }")
	sign.register(fl)
	registerGitRemote(fl, &c.Remote)
	roots.register(fl)
	registerTLS(fl, &c.TLSCert, &c.TLSKey)
	age.register(fl)
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}
