package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// StatusView is `gitboot status`: the nodes' status from a running
// server (GET /status) or, with Repo, from the repository's notes.
type StatusView struct {
	Server  string // base URL of the server
	Repo    string // read the notes of Ref's applied commit here instead
	Ref     string
	JSON    bool
	Watch   bool // redraw every second
	Unknown bool // the MACs seen but not declared
	Colour  bool // decided from the output, not a flag
}

// Run prints the status of the nodes args names (all without), once or,
// with Watch, every second until ctx ends.
func (v *StatusView) Run(ctx context.Context, out, errOut io.Writer, args []string) error {
	if v.Repo != "" && (v.Watch || v.Unknown) {
		return errors.New("status --repo: --watch and --unknown need a server (--server URL)")
	}
	if v.Watch && v.Repo == "" {
		return v.WatchLoop(ctx, out, errOut, args)
	}
	return v.Once(ctx, out, errOut, args)
}

// Once fetches the status (from the server, or with Repo from the
// notes) and prints it; nodes asked for that are not in it are an error
// (exit 1) after the rest is printed.
func (v *StatusView) Once(ctx context.Context, out, errOut io.Writer, args []string) error {
	ctx = clio.Context(ctx)
	var rep *status.Report
	var err error
	missingWhy := "not declared on " + v.Server
	if v.Repo != "" {
		rep, err = notes.RepoStatus(ctx, v.Repo, v.Ref)
		missingWhy = "no notes in " + v.Repo + " for"
	} else {
		rep, err = Status(ctx, v.Server)
	}
	if err != nil {
		return err
	}
	missing := rep.Filter(args)
	if err := v.print(out, rep); err != nil {
		return err
	}
	if len(args) > 0 && len(rep.Nodes) == 1 && !v.JSON && !v.Unknown && v.Repo == "" {
		// One node asked for: its boot timeline too.
		io.WriteString(out, "\n")
		if err := status.WriteTimeline(out, &rep.Nodes[0]); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(errOut, "gitboot status: %s: %s\n", missingWhy, strings.Join(missing, ", "))
		return clio.Exit{Code: 1}
	}
	return nil
}

func (v *StatusView) print(out io.Writer, rep *status.Report) error {
	switch {
	case v.JSON && v.Unknown:
		return clio.WriteJSON(out, rep.Unknown)
	case v.JSON:
		return clio.WriteJSON(out, rep)
	case v.Unknown:
		return status.WriteUnknown(out, rep)
	}
	if err := status.WriteTable(out, rep, v.Colour); err != nil {
		return err
	}
	return status.WriteRejected(out, rep)
}

// WatchLoop redraws every second until ctx ends. A failed fetch is shown
// and retried rather than ending the watch.
func (v *StatusView) WatchLoop(ctx context.Context, out, errOut io.Writer, args []string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var frame strings.Builder
		rep, err := Status(ctx, v.Server)
		if err == nil {
			rep.Filter(args)
			err = v.print(&frame, rep)
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case v.JSON: // one JSON document per second, nothing else
		case v.Colour:
			io.WriteString(out, "\x1b[H\x1b[2J") // home, clear
		default:
			io.WriteString(out, "\n")
		}
		if !v.JSON {
			fmt.Fprintf(out, "Every 1s: gitboot status (%s)  %s\n\n", v.Server, time.Now().Format(time.TimeOnly))
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
