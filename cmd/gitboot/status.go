package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/gitboot/gitboot/serve"
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

// defaultServerURL is where the clients (status, plan, discover,
// rollout, hooks) look without --server: serve's admin listener.
const defaultServerURL = client.DefaultURL

// defaultListenAdmin is serve's --listen-admin.
const defaultListenAdmin = serve.DefaultListenAdmin

func newStatusCmd() *cobra.Command {
	var o client.StatusView
	cmd := &cobra.Command{
		Use:   "status [NODE...]",
		Short: "Show each node's boot stage and who needs a reboot",
		Long: "Show each node's boot stage, the file last sent and how long ago it was last seen,\n" +
			"as served by a running gitboot at GET /status. NODE may be a name, a glob (\"c0*\") or a host\n" +
			"range (\"c[001-004,9]\").\n" +
			"Rows turn yellow when a node is late (last seen >= interval + 5 s) and red when lost\n" +
			"(>= 2x interval), on a terminal only. A node that booted a kernel, image or system\n" +
			"overlay other than the applied commit's has \"*\" after its stage (needs_reboot in --json),\n" +
			"and a last line counts them: reboot them to pick up the applied commit. When the\n" +
			"arguments match one node, its boot timeline follows: each stage of this boot and the\n" +
			"previous one, with the time since the boot started and the gap since the stage before.",
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := hostlist.ExpandArgs(args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			o.Colour = clio.IsTerminal(out) && os.Getenv("NO_COLOR") == ""
			ctx := contextOf(cmd)
			if o.Watch {
				var stop func()
				ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
			}
			return o.Run(ctx, out, cmd.ErrOrStderr(), args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", defaultServerURL, "base URL of the gitboot server")
	f.StringVar(&o.Repo, "repo", "", "read the status from the repository's git notes (refs/notes/gitboot), no server asked")
	f.StringVar(&o.Ref, "ref", "main", "with --repo: the branch whose applied commit's notes are read")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	f.BoolVarP(&o.Watch, "watch", "w", false, "redraw every second")
	f.BoolVar(&o.Unknown, "unknown", false, "list MACs seen but not declared, with a node block to paste")
	return cmd
}

func contextOf(cmd *cobra.Command) context.Context { return clio.Context(cmd.Context()) }

// statusClient is the clients' HTTP client (the admin token added).
var statusClient = client.HTTP
