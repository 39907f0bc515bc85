// Package discover proposes node blocks for MACs no node declares
// (gitboot discover): what the proposal must avoid, from a working tree or
// a server's inventory, and the MACs, from a server's unknown MACs or a
// vendor file. internal/nodeblock writes the blocks.
package discover

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/macfile"
	"github.com/gitboot/gitboot/internal/nodeblock"
	"github.com/gitboot/gitboot/reconcile"
)

// Declared is what a proposal must avoid, from a working tree or from
// the server's inventory.
type Declared struct {
	networks []nodeblock.Network
	taken    map[netip.Addr]bool
	names    map[string]bool
	macs     map[string]string // MAC -> node name
	profiles []string          // nil when unknown (an inventory has none)
}

// Seen is one MAC to propose a node for, with where it came from.
type Seen struct {
	MAC     string
	Addr    netip.Addr // where it was seen, if known
	Comment string     // written above its node block
}

// PickProfile is the profile the new nodes list: want, checked, or
// compute when declared, else the only one.
func (d *Declared) PickProfile(want string) (string, error) {
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
		return "", fmt.Errorf("--profile %s: no such profile (Declared: %s)", want, strings.Join(d.profiles, ", "))
	}
	for _, p := range d.profiles {
		if p == "compute" {
			return p, nil
		}
	}
	if len(d.profiles) == 1 {
		return d.profiles[0], nil
	}
	return "", fmt.Errorf("--profile: which profile do the new nodes list? Declared: %s", strings.Join(d.profiles, ", "))
}

// InTree is what a working tree's cluster declares.
func InTree(c *hclspec.Cluster) *Declared {
	d := &Declared{taken: map[netip.Addr]bool{}, names: map[string]bool{}, macs: map[string]string{}, profiles: []string{}}
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
	return d
}

// FromInventory is what a server applied (its GET /inventory); server
// names it in errors.
func FromInventory(inv *reconcile.Inventory, server string) (*Declared, error) {
	if inv == nil {
		return nil, fmt.Errorf("%s has applied nothing yet: give --write FILE in a working tree of the repository", server)
	}
	d := &Declared{taken: map[netip.Addr]bool{}, names: map[string]bool{}, macs: map[string]string{}}
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

// FromUnknown lists a server's unknown MACs (GET /status), first seen
// first.
func FromUnknown(us []status.Unknown) []Seen {
	sort.SliceStable(us, func(i, j int) bool {
		if !us[i].FirstSeen.Equal(us[j].FirstSeen) {
			return us[i].FirstSeen.Before(us[j].FirstSeen)
		}
		return us[i].MAC < us[j].MAC
	})
	out := make([]Seen, 0, len(us))
	for _, u := range us {
		c := fmt.Sprintf("seen %d time(s) by %s", u.Count, u.Stage)
		if u.Addr.IsValid() {
			c += " from " + u.Addr.String()
		}
		c += ", first at " + u.FirstSeen.UTC().Format(time.RFC3339)
		out = append(out, Seen{MAC: u.MAC, Addr: u.Addr, Comment: c})
	}
	return out
}

// ReadMACFile reads a vendor MAC file (see internal/macfile: CSV or
// whitespace columns, header rows and rows of separators only skipped).
func ReadMACFile(name string) ([]Seen, error) {
	es, err := macfile.Read(name)
	if err != nil {
		return nil, fmt.Errorf("--macs: %w", err)
	}
	out := make([]Seen, 0, len(es))
	for _, e := range es {
		out = append(out, Seen{MAC: e.MAC, Comment: fmt.Sprintf("%s line %d", filepath.Base(name), e.Line)})
	}
	return out, nil
}

// AppendBlocks appends text to the file, a blank line apart from what it
// holds.
func AppendBlocks(name string, text []byte) error {
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

// Node returns the node that declares mac, if one does.
func (d *Declared) Node(mac string) (string, bool) {
	name, ok := d.macs[mac]
	return name, ok
}

// Networks are the declared networks, for nodeblock.Pick.
func (d *Declared) Networks() []nodeblock.Network { return d.networks }

// Options are nodeblock.Options for new nodes in network: the declared
// addresses and names avoided.
func (d *Declared) Options(network nodeblock.Network, nameFormat, profile string) nodeblock.Options {
	return nodeblock.Options{Network: network, Taken: d.taken, Names: d.names, NameFormat: nameFormat, Profile: profile}
}
