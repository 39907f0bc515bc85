package power

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// Command is `gitboot power`: Action on the selected nodes, here (Ref of
// Repo, the credentials file Creds) or by the server at Server.
type Command struct {
	Action     Action
	Names      []string // nodes named
	All        bool     // every node with a bmc block
	Tags       []string // KEY=VALUE, all must match
	Repo, Ref  string
	Vars       []string // --var name=value
	Server     string
	Creds      string
	JSON       bool
	Parallel   int
	Timeout    time.Duration
	AdminToken func() (string, error) // sent to Server
}

// Run selects the nodes, runs the action (here or on Server) and prints
// the results; exit status 1 when any node failed.
func (c Command) Run(ctx context.Context, out, errOut io.Writer) error {
	tags, err := ParseTags(c.Tags)
	if err != nil {
		return err
	}
	if c.Parallel < 1 || c.Parallel > MaxParallel {
		return fmt.Errorf("--parallel %d: must be 1 to %d", c.Parallel, MaxParallel)
	}
	if c.Timeout <= 0 || c.Timeout > MaxTimeout {
		return fmt.Errorf("--timeout %s: must be positive and at most %s", c.Timeout, MaxTimeout)
	}
	sel := Selection{Names: c.Names, All: c.All, Tags: tags}
	if sel.Empty() {
		return fmt.Errorf("power %s: name nodes, or give --all or --tag KEY=VALUE", c.Action)
	}
	var results []Result
	if c.Server != "" {
		if c.Creds != "" {
			return fmt.Errorf("--bmc-credentials is read by the server with --server; give it to `gitboot serve`")
		}
		tok, err := c.AdminToken()
		if err != nil {
			return err
		}
		results, err = RunRemote(ctx, c.Server, tok, Request{Action: c.Action, Nodes: c.Names, All: c.All, Tags: tags,
			Parallel: c.Parallel, Timeout: Duration(c.Timeout)})
		if err != nil {
			return err
		}
	} else {
		targets, err := c.localTargets(ctx, errOut, sel)
		if err != nil {
			return err
		}
		results = Run(ctx, targets, c.Action, Options{Parallel: c.Parallel, Timeout: c.Timeout})
	}
	if c.JSON {
		err = WriteJSON(out, c.Action, results)
	} else {
		err = WriteTable(out, results)
	}
	if err != nil {
		return err
	}
	if Failed(results) > 0 {
		return clio.Exit{Code: 1}
	}
	return nil
}

// localTargets reads the cluster of Ref and the credentials file.
func (c Command) localTargets(ctx context.Context, errOut io.Writer, sel Selection) ([]Target, error) {
	if c.Creds == "" {
		return nil, fmt.Errorf("--bmc-credentials FILE is needed without --server (the BMCs' user names and passwords)")
	}
	creds, diags := LoadCredentials(c.Creds)
	if len(diags) > 0 {
		diagfmt.Write(errOut, CredentialSources(c.Creds), diags)
	}
	if diags.HasErrors() {
		return nil, clio.Exit{Code: 1}
	}
	cl, err := c.loadCluster(ctx, errOut)
	if err != nil {
		return nil, err
	}
	return Select(cl, creds, sel)
}

// loadCluster loads Ref of Repo; an invalid commit prints its
// diagnostics (exit status 1).
func (c Command) loadCluster(ctx context.Context, errOut io.Writer) (*hclspec.Cluster, error) {
	opts, err := hclspec.OptionsFor(".", c.Vars)
	if err != nil {
		return nil, err
	}
	src, err := gitsrc.Open(c.Repo)
	if err != nil {
		return nil, err
	}
	commit, err := src.Resolve(c.Ref)
	if err != nil {
		return nil, err
	}
	cl, diags := hclspec.LoadContext(ctx, commit.FS, opts)
	if diags.HasErrors() {
		fmt.Fprintf(errOut, "gitboot: commit %s of %s is invalid.\n\n", commit.Short(), c.Repo)
		diagfmt.Write(errOut, opts.Parser.Files(), diags)
		return nil, clio.Exit{Code: 1}
	}
	return cl, nil
}
