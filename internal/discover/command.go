package discover

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/serve/client"
)

// Command is `gitboot discover`: node blocks proposed for the unknown
// MACs of Server or the MACs of the file MACs, printed or appended to
// Write.
type Command struct {
	Server     string
	Network    string
	Profile    string
	NameFormat string
	Write      string   // an .hcl file of a working tree ("": print)
	MACs       string   // a vendor file of MACs ("": the server's unknown MACs)
	Vars       []string // with Write: --var name=value
}

// Run proposes the blocks and prints or appends them.
func (c Command) Run(ctx context.Context, out, errOut io.Writer) error {
	d, err := c.declared(ctx, errOut)
	if err != nil {
		return err
	}
	seen, err := c.seen(ctx)
	if err != nil {
		return err
	}
	p, err := d.Propose(Request{Seen: seen, Profile: c.Profile, Network: c.Network, NameFormat: c.NameFormat,
		Skipped: func(mac, node string) {
			fmt.Fprintf(errOut, "gitboot discover: %s is node %s already: skipped\n", mac, node)
		}})
	if err != nil || p == nil {
		if p == nil && err == nil {
			fmt.Fprintln(errOut, "gitboot discover: no unknown MACs: nothing to propose")
		}
		return err
	}
	if c.Write == "" {
		_, err := out.Write(p.Text)
		return err
	}
	if err := AppendBlocks(c.Write, p.Text); err != nil {
		return err
	}
	fmt.Fprintf(out, "Appended %d node block(s) to %s (network %s, profile %s): review, commit and push.\n", p.Blocks, c.Write, p.Network, p.Profile)
	return nil
}

// declared is what the proposal must avoid: the working tree of Write,
// else the server's inventory.
func (c Command) declared(ctx context.Context, errOut io.Writer) (*Declared, error) {
	if c.Write == "" {
		inv, _, err := client.Inventory(ctx, c.Server)
		if err != nil {
			return nil, err
		}
		return FromInventory(inv, c.Server)
	}
	if filepath.Ext(c.Write) != ".hcl" {
		return nil, fmt.Errorf("--write %s: the file must end in .hcl to be read as configuration", c.Write)
	}
	dir := filepath.Dir(c.Write)
	opts, err := hclspec.OptionsFor(dir, c.Vars)
	if err != nil {
		return nil, err
	}
	fsys, closeFS, err := hclspec.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer closeFS()
	cl, diags := hclspec.Load(fsys, opts)
	if diags.HasErrors() {
		diagfmt.Write(errOut, diagfmt.WithSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags), diags)
		return nil, fmt.Errorf("the configuration in %s is invalid: fix it before adding nodes", dir)
	}
	return InTree(cl), nil
}

// seen are the MACs to propose nodes for: MACs, else the server's
// unknown MACs.
func (c Command) seen(ctx context.Context) ([]Seen, error) {
	if c.MACs != "" {
		return ReadMACFile(c.MACs)
	}
	rep, err := client.Status(ctx, c.Server)
	if err != nil {
		return nil, err
	}
	return FromUnknown(rep.Unknown), nil
}
