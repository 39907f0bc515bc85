package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/macfile"
	"github.com/gitboot/gitboot/internal/nodeblock"
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

// declared is what the proposal must avoid, from a working tree or from
// the server's inventory.
type declared struct {
	networks []nodeblock.Network
	taken    map[netip.Addr]bool
	names    map[string]bool
	macs     map[string]string // MAC -> node name
	profiles []string          // nil when unknown (an inventory has none)
}

// seenMAC is one MAC to propose a node for, with where it came from.
type seenMAC struct {
	mac     string
	addr    netip.Addr
	comment string
}

func (o *discoverOpts) run(ctx context.Context, out, errOut io.Writer) error {
	var d *declared
	var err error
	if o.write != "" {
		if filepath.Ext(o.write) != ".hcl" {
			return fmt.Errorf("--write %s: the file must end in .hcl to be read as configuration", o.write)
		}
		d, err = declaredInTree(filepath.Dir(o.write), o.vars, errOut)
	} else {
		d, err = declaredOnServer(ctx, o.server)
	}
	if err != nil {
		return err
	}
	var seen []seenMAC
	if o.macs != "" {
		seen, err = readMACFile(o.macs)
	} else {
		seen, err = unknownOnServer(ctx, o.server)
	}
	if err != nil {
		return err
	}
	var macs []string
	var todo []seenMAC
	for _, s := range seen {
		if name, ok := d.macs[s.mac]; ok {
			fmt.Fprintf(errOut, "gitboot discover: %s is node %s already: skipped\n", s.mac, name)
			continue
		}
		macs = append(macs, s.mac)
		todo = append(todo, s)
	}
	if len(todo) == 0 {
		fmt.Fprintln(errOut, "gitboot discover: no unknown MACs: nothing to propose")
		return nil
	}
	profile, err := d.pickProfile(o.profile)
	if err != nil {
		return err
	}
	network, err := nodeblock.Pick(d.networks, o.network, todo[0].addr)
	if err != nil {
		return fmt.Errorf("--network: %w", err)
	}
	blocks, err := nodeblock.Propose(macs, nodeblock.Options{Network: network, Taken: d.taken, Names: d.names, NameFormat: o.nameFormat, Profile: profile})
	if err != nil {
		return err
	}
	for i := range blocks {
		blocks[i].Comment = todo[i].comment
	}
	text := nodeblock.Write(blocks, profile)
	if o.write == "" {
		_, err := out.Write(text)
		return err
	}
	if err := appendBlocks(o.write, text); err != nil {
		return err
	}
	fmt.Fprintf(out, "Appended %d node block(s) to %s (network %s, profile %s): review, commit and push.\n", len(blocks), o.write, network.Name, profile)
	return nil
}

func (d *declared) pickProfile(want string) (string, error) {
	if d.profiles == nil {
		if want == "" {
			return "compute", nil
		}
		return want, nil
	}
	if want != "" {
		for _, p := range d.profiles {
			if p == want {
				return want, nil
			}
		}
		return "", fmt.Errorf("--profile %s: no such profile (declared: %s)", want, strings.Join(d.profiles, ", "))
	}
	for _, p := range d.profiles {
		if p == "compute" {
			return p, nil
		}
	}
	if len(d.profiles) == 1 {
		return d.profiles[0], nil
	}
	return "", fmt.Errorf("--profile: which profile do the new nodes list? declared: %s", strings.Join(d.profiles, ", "))
}

// declaredInTree loads the working tree's configuration (it must be valid).
func declaredInTree(dir string, vars []string, errOut io.Writer) (*declared, error) {
	opts, err := loadOptions(dir, vars)
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
		writeDiagnostics(errOut, withSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags), diags)
		return nil, fmt.Errorf("the configuration in %s is invalid: fix it before adding nodes", dir)
	}
	d := &declared{taken: map[netip.Addr]bool{}, names: map[string]bool{}, macs: map[string]string{}, profiles: []string{}}
	for _, s := range c.Servers {
		d.taken[s.Address] = true
	}
	for _, n := range c.Networks {
		d.networks = append(d.networks, nodeblock.Network{Name: n.Name, Subnet: n.Subnet, DynamicStart: n.DynamicStart, DynamicEnd: n.DynamicEnd})
		d.taken[n.Gateway] = true
		for _, a := range n.DNS {
			d.taken[a] = true
		}
	}
	for _, n := range c.Nodes {
		d.taken[n.IP], d.names[n.Name], d.macs[n.MAC] = true, true, n.Name
	}
	for _, p := range c.Profiles {
		d.profiles = append(d.profiles, p.Name)
	}
	return d, nil
}

// declaredOnServer reads what the server applied (GET /inventory).
func declaredOnServer(ctx context.Context, server string) (*declared, error) {
	inv, _, err := runningInventory(ctx, planFlags{server: server})
	if err != nil {
		return nil, err
	}
	if inv == nil {
		return nil, fmt.Errorf("%s has applied nothing yet: give --write FILE in a working tree of the repository", server)
	}
	d := &declared{taken: map[netip.Addr]bool{}, names: map[string]bool{}, macs: map[string]string{}}
	addr := func(s string) netip.Addr { a, _ := netip.ParseAddr(s); return a }
	d.taken[addr(inv.Server.Address)] = true
	names := make([]string, 0, len(inv.Networks))
	for name := range inv.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := inv.Networks[name]
		p, err := netip.ParsePrefix(n.Subnet)
		if err != nil {
			return nil, fmt.Errorf("reading %s/inventory: network %s: %w", server, name, err)
		}
		nb := nodeblock.Network{Name: name, Subnet: p}
		if len(n.DynamicRange) == 2 {
			nb.DynamicStart, nb.DynamicEnd = addr(n.DynamicRange[0]), addr(n.DynamicRange[1])
		}
		d.networks = append(d.networks, nb)
		d.taken[addr(n.Gateway)] = true
		for _, a := range n.DNS {
			d.taken[addr(a)] = true
		}
	}
	for name, n := range inv.Nodes {
		d.taken[addr(n.IP)], d.names[name], d.macs[n.MAC] = true, true, name
	}
	return d, nil
}

// unknownOnServer lists the server's unknown MACs, first seen first.
func unknownOnServer(ctx context.Context, server string) ([]seenMAC, error) {
	rep, err := fetchStatus(ctx, server)
	if err != nil {
		return nil, err
	}
	us := rep.Unknown
	sort.SliceStable(us, func(i, j int) bool {
		if !us[i].FirstSeen.Equal(us[j].FirstSeen) {
			return us[i].FirstSeen.Before(us[j].FirstSeen)
		}
		return us[i].MAC < us[j].MAC
	})
	out := make([]seenMAC, 0, len(us))
	for _, u := range us {
		c := fmt.Sprintf("seen %d time(s) by %s", u.Count, u.Stage)
		if u.Addr.IsValid() {
			c += " from " + u.Addr.String()
		}
		c += ", first at " + u.FirstSeen.UTC().Format(time.RFC3339)
		out = append(out, seenMAC{mac: u.MAC, addr: u.Addr, comment: c})
	}
	return out, nil
}

// readMACFile reads a vendor MAC file (see internal/macfile: CSV or
// whitespace columns, header and empty rows skipped).
func readMACFile(name string) ([]seenMAC, error) {
	es, err := macfile.Read(name)
	if err != nil {
		return nil, fmt.Errorf("--macs: %w", err)
	}
	out := make([]seenMAC, 0, len(es))
	for _, e := range es {
		out = append(out, seenMAC{mac: e.MAC, comment: fmt.Sprintf("%s line %d", filepath.Base(name), e.Line)})
	}
	return out, nil
}

// appendBlocks appends text to the file, a blank line apart from what it
// holds.
func appendBlocks(name string, text []byte) error {
	old, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var b bytes.Buffer
	if len(old) > 0 {
		b.Write(old)
		if !bytes.HasSuffix(old, []byte("\n")) {
			b.WriteByte('\n')
		}
		if !bytes.HasSuffix(b.Bytes(), []byte("\n\n")) {
			b.WriteByte('\n')
		}
	}
	b.Write(text)
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(name); err == nil {
		mode = fi.Mode().Perm()
	}
	return atomicfile.WriteFile(name, b.Bytes(), mode)
}
