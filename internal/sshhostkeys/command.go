package sshhostkeys

import (
	"fmt"
	"io"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/diagfmt"
)

// Command is `gitboot secrets ssh-host-keys`: host keys generated for
// the nodes of the working tree Repo that have none.
type Command struct {
	Repo       string
	Recipients []string // age recipients ("": the lines of RecipientsFile)
	Vars       []string // --var name=value
}

// Run generates the keys of the named nodes (all without) and says
// which files it wrote and which keys it kept.
func (c Command) Run(out, errOut io.Writer, named []string) error {
	nodes, err := c.nodes(errOut, named)
	if err != nil {
		return err
	}
	rs, from, err := Recipients(c.Repo, c.Recipients)
	if err != nil {
		return err
	}
	results, err := Generate(c.Repo, nodes, rs, nil)
	n := 0
	for _, r := range results {
		for _, f := range r.Written {
			fmt.Fprintf(out, "wrote %s\n", f)
			n++
		}
		if len(r.Kept) > 0 {
			fmt.Fprintf(out, "%s: kept its %s keys\n", r.Node, strings.Join(r.Kept, ", "))
		}
	}
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(out, "Every node has its host keys: nothing written.")
	} else {
		fmt.Fprintf(out, "Wrote %d files, private keys encrypted to the recipients of %s: commit and push them.\n", n, from)
	}
	return nil
}

// nodes evaluates the repository in Repo and returns the named nodes
// (each must be declared) or, with none named, all its nodes.
func (c Command) nodes(errOut io.Writer, named []string) ([]string, error) {
	opts, err := hclspec.OptionsFor(c.Repo, c.Vars)
	if err != nil {
		return nil, err
	}
	fsys, closeFS, err := hclspec.OpenDir(c.Repo)
	if err != nil {
		return nil, err
	}
	defer closeFS()
	cl, diags := hclspec.Load(fsys, opts)
	if diags.HasErrors() {
		diagfmt.Write(errOut, diagfmt.WithSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags), diags)
		return nil, clio.Exit{Code: 1}
	}
	if len(named) == 0 {
		out := make([]string, 0, len(cl.Nodes))
		for _, n := range cl.Nodes {
			out = append(out, n.Name)
		}
		return out, nil
	}
	for _, n := range named {
		if _, ok := cl.Node(n); !ok {
			return nil, fmt.Errorf("%s declares no node %s", c.Repo, n)
		}
	}
	return named, nil
}
