package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/gitboot/gitboot/rollout"
	"github.com/spf13/cobra"
)

func newRolloutCmd() *cobra.Command {
	o := rollout.Command{Client: statusClient}
	cmd := &cobra.Command{
		Use:   "rollout [--batch 10%|N] [--max-failures N] [--wait STAGE] [--timeout 15m] [--dry-run] [--only NODE...] [--tag k=v] [NODE...]",
		Short: "Reboot, a batch at a time, the nodes that need a reboot to pick up the applied commit",
		Long: "Ask the running gitboot server (--server, from the server's own host) to reboot the nodes\n" +
			"that need a reboot to pick up the applied commit (status shows them with \"*\"; so are nodes\n" +
			"an applied plan said need one, such as for new kernel arguments), a batch at a time: each\n" +
			"batch's nodes are power cycled through their BMCs (the server's --bmc-credentials), and a\n" +
			"node is done when it is back at --wait having booted the applied commit. Nodes that are\n" +
			"off stay off. A batch in which more nodes fail (BMC refused, not back within --timeout)\n" +
			"than --max-failures allows halts the rollout: the later batches are left alone, and the\n" +
			"report names each failed node with its last stage and when it was last seen. A newer\n" +
			"commit applied meanwhile supersedes the rollout. Every rollout is recorded in the notes of\n" +
			"the commit it rolled out. Stopping this command (Ctrl-C) leaves the rollout running on the\n" +
			"server: --watch shows it again, --cancel stops it. Exit status 0 when it completed, 1\n" +
			"otherwise.",
		RunE: func(cmd *cobra.Command, args []string) error {
			only, err := hostlist.ExpandArgs(append(o.Only, args...))
			if err != nil {
				return err
			}
			o.Only = only
			ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.Run(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", defaultServerURL, "base URL of the gitboot server (it runs the rollout)")
	f.StringVar(&o.Batch, "batch", "", "nodes per batch: N, or a percentage such as 10% (default: the server block's rollout batch, else 10%)")
	f.IntVar(&o.MaxFailures, "max-failures", -1, "failed nodes tolerated before the rollout halts (default: the server block's max_failures, else 0)")
	f.StringVar(&o.Wait, "wait", "", "the stage a rebooted node must reach (default RUNTIME_OVERLAY)")
	f.DurationVar(&o.Timeout, "timeout", 0, "how long a batch may take (default 15m)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the batches, reboot nothing")
	f.StringArrayVar(&o.Only, "only", nil, "only these nodes (names, globs or host ranges such as n[01-04]; repeatable)")
	f.StringArrayVar(&o.Tags, "tag", nil, "only nodes with this tag: --tag k=v (repeatable; all must match)")
	f.StringVar(&o.Creds, "bmc-credentials", "", "not used here: the server holds the BMC credentials (gitboot serve --bmc-credentials FILE)")
	f.BoolVar(&o.JSON, "json", false, "print the rollout's final progress as JSON")
	f.BoolVar(&o.Watch, "watch", false, "start nothing: watch the server's current rollout until it ends")
	f.BoolVar(&o.Cancel, "cancel", false, "stop the server's running rollout")
	f.DurationVar(&o.Poll, "poll", 500*time.Millisecond, "how often the progress is read")
	_ = f.MarkHidden("poll")
	return cmd
}
