package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/internal/discover"
	"github.com/gitboot/gitboot/internal/nodeblock"
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

type discoverOpts struct {
	server     string
	network    string
	profile    string
	nameFormat string
	write      string
	macs       string
	vars       []string
}

func newDiscoverCmd() *cobra.Command {
	var o discoverOpts
	cmd := &cobra.Command{
		Use:   "discover [--server URL | --macs FILE] [--network NAME] [--profile NAME] [--name-format n%03d] [--write FILE]",
		Short: "Propose node blocks for unknown MACs: discovery through git",
		Long: "Take the MACs a running server has seen but no node declares (GET /status), or the MACs\n" +
			"of a vendor file in rack order (--macs FILE: one MAC a line, the first field of each\n" +
			"line; '#' comments and blank lines skipped), and propose one node block each: a name\n" +
			"from --name-format, the next free address of the network outside its dynamic range\n" +
			"and away from every declared node, gateway, DNS server and server address, and the\n" +
			"profile, in `gitboot fmt` style. They are printed, or with --write FILE appended to FILE\n" +
			"(an .hcl file in a working tree of the cluster repository, whose declarations are then\n" +
			"what the proposal avoids): review, commit and push. Nothing changes behind git's back.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(contextOf(cmd), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", defaultServerURL, "base URL of the gitboot server (its unknown MACs, and without --write its inventory)")
	f.StringVar(&o.network, "network", "", "the network the new nodes join (default: where the first MAC was seen, else the only or first network)")
	f.StringVar(&o.profile, "profile", "", "the profile the new nodes list (default: compute when declared, else the only profile)")
	f.StringVar(&o.nameFormat, "name-format", nodeblock.DefaultNameFormat, "node names: a format with one integer verb, numbered from 1, skipping declared names")
	f.StringVar(&o.write, "write", "", "append the blocks to this .hcl file of a working tree instead of printing them")
	f.StringVar(&o.macs, "macs", "", "read the MACs from this vendor file, in its order, instead of the server's unknown MACs")
	f.StringArrayVar(&o.vars, "var", nil, "with --write: set an input variable of the repository: --var name=value (repeatable)")
	return cmd
}

func (o *discoverOpts) run(ctx context.Context, out, errOut io.Writer) error {
	d, err := o.declared(ctx, errOut)
	if err != nil {
		return err
	}
	seen, err := o.seen(ctx)
	if err != nil {
		return err
	}
	p, err := d.Propose(discover.Request{Seen: seen, Profile: o.profile, Network: o.network, NameFormat: o.nameFormat,
		Skipped: func(mac, node string) {
			fmt.Fprintf(errOut, "gitboot discover: %s is node %s already: skipped\n", mac, node)
		}})
	if err != nil || p == nil {
		if p == nil && err == nil {
			fmt.Fprintln(errOut, "gitboot discover: no unknown MACs: nothing to propose")
		}
		return err
	}
	if o.write == "" {
		_, err := out.Write(p.Text)
		return err
	}
	if err := discover.AppendBlocks(o.write, p.Text); err != nil {
		return err
	}
	fmt.Fprintf(out, "Appended %d node block(s) to %s (network %s, profile %s): review, commit and push.\n", p.Blocks, o.write, p.Network, p.Profile)
	return nil
}

// declared is what the proposal must avoid: the working tree of --write,
// else the server's inventory.
func (o *discoverOpts) declared(ctx context.Context, errOut io.Writer) (*discover.Declared, error) {
	if o.write == "" {
		inv, _, err := client.Inventory(ctx, o.server)
		if err != nil {
			return nil, err
		}
		return discover.FromInventory(inv, o.server)
	}
	if filepath.Ext(o.write) != ".hcl" {
		return nil, fmt.Errorf("--write %s: the file must end in .hcl to be read as configuration", o.write)
	}
	dir := filepath.Dir(o.write)
	opts, err := loadOptions(dir, o.vars)
	if err != nil {
		return nil, err
	}
	fsys, closeFS, err := openRepoDir(dir)
	if err != nil {
		return nil, err
	}
	defer closeFS()
	c, diags := hclspec.Load(fsys, opts)
	if diags.HasErrors() {
		writeDiagnostics(errOut, diagfmt.WithSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags), diags)
		return nil, fmt.Errorf("the configuration in %s is invalid: fix it before adding nodes", dir)
	}
	return discover.InTree(c), nil
}

// seen are the MACs to propose nodes for: --macs, else the server's
// unknown MACs.
func (o *discoverOpts) seen(ctx context.Context) ([]discover.Seen, error) {
	if o.macs != "" {
		return discover.ReadMACFile(o.macs)
	}
	rep, err := fetchStatus(ctx, o.server)
	if err != nil {
		return nil, err
	}
	return discover.FromUnknown(rep.Unknown), nil
}
