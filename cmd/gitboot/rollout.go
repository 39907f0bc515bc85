package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/rollout"
	"github.com/spf13/cobra"
)

type rolloutOpts struct {
	rollout.Options
	server string
	creds  string
	json   bool
	watch  bool
	cancel bool
	poll   time.Duration
}

func newRolloutCmd() *cobra.Command {
	var o rolloutOpts
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
			return o.run(ctx, cmd, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", defaultServerURL, "base URL of the gitboot server (it runs the rollout)")
	f.StringVar(&o.Batch, "batch", "", "nodes per batch: N, or a percentage such as 10% (default: the server block's rollout batch, else 10%)")
	f.IntVar(&o.MaxFailures, "max-failures", -1, "failed nodes tolerated before the rollout halts (default: the server block's max_failures, else 0)")
	f.StringVar(&o.Wait, "wait", "", "the stage a rebooted node must reach (default RUNTIME_OVERLAY)")
	f.DurationVar(&o.Timeout, "timeout", 0, "how long a batch may take (default 15m)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the batches, reboot nothing")
	f.StringArrayVar(&o.Only, "only", nil, "only these nodes (names, globs or host ranges such as n[01-04]; repeatable)")
	f.StringArrayVar(&o.Tags, "tag", nil, "only nodes with this tag: --tag k=v (repeatable; all must match)")
	f.StringVar(&o.creds, "bmc-credentials", "", "not used here: the server holds the BMC credentials (gitboot serve --bmc-credentials FILE)")
	f.BoolVar(&o.json, "json", false, "print the rollout's final progress as JSON")
	f.BoolVar(&o.watch, "watch", false, "start nothing: watch the server's current rollout until it ends")
	f.BoolVar(&o.cancel, "cancel", false, "stop the server's running rollout")
	f.DurationVar(&o.poll, "poll", 500*time.Millisecond, "how often the progress is read")
	_ = f.MarkHidden("poll")
	return cmd
}

func (o *rolloutOpts) run(ctx context.Context, cmd *cobra.Command, out, errOut io.Writer) error {
	if o.creds != "" {
		return errors.New("--bmc-credentials: the rollout runs on the server, which reads the credentials: " +
			"start gitboot serve with --bmc-credentials FILE (credentials never travel to the CLI)")
	}
	base := strings.TrimRight(o.server, "/")
	p, err := o.call(ctx, base)
	if err != nil || p == nil {
		return err
	}
	if o.cancel {
		fmt.Fprintf(out, "Rollout %s canceled.\n", p.ID)
		return nil
	}
	if p.State == rollout.StatePlanned {
		if o.json {
			return printJSON(out, p)
		}
		rollout.WritePlan(out, p)
		return nil
	}
	if p.State == rollout.StateCompleted && len(p.Nodes) == 0 {
		if o.json {
			return printJSON(out, p)
		}
		fmt.Fprintf(out, "No node needs a reboot to pick up commit %s.\n", reconcile.Short(p.Commit))
		return nil
	}
	p, err = o.follow(ctx, base, p, out, errOut)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(out, p)
	}
	rollout.WriteReport(out, p)
	if p.State != rollout.StateCompleted {
		return exitError{Code: 1}
	}
	return nil
}

// call sends the request of the flags: --cancel, --watch (the rollout
// running), else a new rollout.
func (o *rolloutOpts) call(ctx context.Context, base string) (*rollout.Progress, error) {
	switch {
	case o.cancel:
		return rollout.Call(ctx, statusClient, http.MethodDelete, base, nil)
	case o.watch:
		p, err := rollout.Call(ctx, statusClient, http.MethodGet, base, nil)
		if err == nil && p.ID == "" {
			return nil, fmt.Errorf("%s has run no rollout", o.server)
		}
		return p, err
	}
	req, err := o.Request()
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(req)
	return rollout.Call(ctx, statusClient, http.MethodPost, base, body)
}

// follow draws p's progress until it is finished (or replaced by
// another rollout) and returns how it ended.
func (o *rolloutOpts) follow(ctx context.Context, base string, p *rollout.Progress, out, errOut io.Writer) (*rollout.Progress, error) {
	view := rollout.NewView(out, isTerminal(out) && !o.json, o.json)
	f := rollout.Follower{Client: statusClient, Base: base, Poll: o.poll, Draw: view.Draw,
		Replaced: func(old, next *rollout.Progress) {
			fmt.Fprintf(errOut, "gitboot rollout: rollout %s was replaced by %s (commit %s)\n", old.ID, next.ID, reconcile.Short(next.Commit))
		}}
	end, err := f.Follow(ctx, p)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(errOut, "\ngitboot rollout: stopped watching; rollout %s goes on on the server (gitboot rollout --watch, --cancel)\n", p.ID)
		return nil, exitError{Code: 1}
	}
	return end, err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
