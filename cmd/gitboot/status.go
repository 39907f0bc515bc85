package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/gitboot/gitboot/reconcile/notes"
	"github.com/gitboot/gitboot/serve"
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

// defaultServerURL is where the clients (status, plan, discover,
// rollout, hooks) look without --server: serve's admin listener.
const defaultServerURL = client.DefaultURL

// defaultListenAdmin is serve's --listen-admin.
const defaultListenAdmin = serve.DefaultListenAdmin

type statusOpts struct {
	server  string
	repo    string
	ref     string
	json    bool
	watch   bool
	unknown bool
	colour  bool // decided from the output, not a flag
}

func newStatusCmd() *cobra.Command {
	var o statusOpts
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
			o.colour = isTerminal(out) && os.Getenv("NO_COLOR") == ""
			if o.repo != "" {
				if o.watch || o.unknown {
					return errors.New("status --repo: --watch and --unknown need a server (--server URL)")
				}
				return o.once(cmd.Context(), out, cmd.ErrOrStderr(), args)
			}
			if !o.watch {
				return o.once(cmd.Context(), out, cmd.ErrOrStderr(), args)
			}
			ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.watchLoop(ctx, out, cmd.ErrOrStderr(), args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", defaultServerURL, "base URL of the gitboot server")
	f.StringVar(&o.repo, "repo", "", "read the status from the repository's git notes (refs/notes/gitboot), no server asked")
	f.StringVar(&o.ref, "ref", "main", "with --repo: the branch whose applied commit's notes are read")
	f.BoolVar(&o.json, "json", false, "print JSON")
	f.BoolVarP(&o.watch, "watch", "w", false, "redraw every second")
	f.BoolVar(&o.unknown, "unknown", false, "list MACs seen but not declared, with a node block to paste")
	return cmd
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// once fetches the status (from the server, or with --repo from the
// notes) and prints it; nodes asked for that are not in it are an error
// (exit 1) after the rest is printed.
func (o *statusOpts) once(ctx context.Context, out, errOut io.Writer, args []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var rep *status.Report
	var err error
	missingWhy := "not declared on " + o.server
	if o.repo != "" {
		rep, err = notes.RepoStatus(ctx, o.repo, o.ref)
		missingWhy = "no notes in " + o.repo + " for"
	} else {
		rep, err = fetchStatus(ctx, o.server)
	}
	if err != nil {
		return err
	}
	missing := rep.Filter(args)
	if err := o.print(out, rep); err != nil {
		return err
	}
	if len(args) > 0 && len(rep.Nodes) == 1 && !o.json && !o.unknown && o.repo == "" {
		// One node asked for: its boot timeline too.
		io.WriteString(out, "\n")
		if err := status.WriteTimeline(out, &rep.Nodes[0]); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(errOut, "gitboot status: %s: %s\n", missingWhy, strings.Join(missing, ", "))
		return exitError{1}
	}
	return nil
}

func (o *statusOpts) print(out io.Writer, rep *status.Report) error {
	switch {
	case o.json && o.unknown:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep.Unknown)
	case o.json:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case o.unknown:
		return status.WriteUnknown(out, rep)
	}
	if err := status.WriteTable(out, rep, o.colour); err != nil {
		return err
	}
	return status.WriteRejected(out, rep)
}

// watchLoop redraws every second until ctx ends. A failed fetch is shown
// and retried rather than ending the watch.
func (o *statusOpts) watchLoop(ctx context.Context, out, errOut io.Writer, args []string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var frame strings.Builder
		rep, err := fetchStatus(ctx, o.server)
		if err == nil {
			rep.Filter(args)
			err = o.print(&frame, rep)
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case o.json: // one JSON document per second, nothing else
		case o.colour:
			io.WriteString(out, "\x1b[H\x1b[2J") // home, clear
		default:
			io.WriteString(out, "\n")
		}
		if !o.json {
			fmt.Fprintf(out, "Every 1s: gitboot status (%s)  %s\n\n", o.server, time.Now().Format(time.TimeOnly))
		}
		if err != nil {
			fmt.Fprintln(errOut, "gitboot status:", err)
		} else {
			io.WriteString(out, frame.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

var statusClient = client.HTTP

// fetchStatus reads GET /status from the server at base.
func fetchStatus(ctx context.Context, base string) (*status.Report, error) {
	return client.Status(ctx, base)
}

// isTerminal reports whether w is a terminal (colour only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
