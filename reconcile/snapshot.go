// Package reconcile makes what the boot services serve equal what the
// repository declares: it resolves the tracked branch (reconcile/gitsrc),
// loads and validates the commit (hclspec), builds its artifacts
// (reconcile/artifact) and turns the result into one immutable
// bootsvc.Snapshot that the services swap in. A commit that fails is
// reported and the last good snapshot stays served.
//
// Imported by cmd/gitboot. Plan/apply, the watch loop and git notes grow
// here (DESIGN.md).
package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// PickServer returns the server block named name, or the only one when
// name is empty.
func PickServer(c *hclspec.Cluster, name string) (*hclspec.Server, error) {
	if name != "" {
		s, ok := c.Server(name)
		if !ok {
			return nil, fmt.Errorf("no server block named %q (declared: %s)", name, serverNames(c))
		}
		return s, nil
	}
	switch len(c.Servers) {
	case 0:
		return nil, fmt.Errorf("the repository declares no server block; add server \"NAME\" { address = \"...\" }")
	case 1:
		return c.Servers[0], nil
	}
	return nil, fmt.Errorf("the repository declares several servers (%s): choose one with --server", serverNames(c))
}

func serverNames(c *hclspec.Cluster) string {
	var names []string
	for _, s := range c.Servers {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Snapshot turns a validated cluster and its built artifacts into what the
// boot services serve for server srv: its networks and the nodes on them.
func Snapshot(c *hclspec.Cluster, srv *hclspec.Server, res *artifact.Result, commit string) *bootsvc.Snapshot {
	served := map[string]bool{}
	for _, n := range srv.Networks {
		served[n] = true
	}
	var networks []bootsvc.Network
	for _, n := range c.Networks {
		if !served[n.Name] {
			continue
		}
		networks = append(networks, bootsvc.Network{
			Name: n.Name, Subnet: n.Subnet, Gateway: n.Gateway, DNS: n.DNS, Domain: n.Domain,
			LeaseTime: n.LeaseTime, DynamicStart: n.DynamicStart, DynamicEnd: n.DynamicEnd,
		})
	}
	var nodes []bootsvc.Node
	for _, n := range c.Nodes {
		if !served[n.Network] {
			continue
		}
		bn := bootsvc.Node{Name: n.Name, MAC: n.MAC, IP: n.IP, Network: n.Network, KernelArgs: n.KernelArgs, Tags: n.Tags}
		if res != nil {
			bn.Artifacts = res.Nodes[n.Name]
		}
		nodes = append(nodes, bn)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return bootsvc.NewSnapshot(bootsvc.Server{
		Name: srv.Name, Address: srv.Address, Interface: srv.Interface,
		HTTPPort: srv.HTTPPort, TFTPPort: srv.TFTPPort, DHCPPort: srv.DHCPPort, DHCPMode: srv.DHCPMode,
		IPXEDir: srv.IPXEDir, UEFIBootFile: srv.UEFIBootFile, RuntimeInterval: srv.RuntimeInterval,
		RouterAdvert: srv.RouterAdvert, SecureRuntime: srv.SecureRuntime,
	}, networks, nodes, commit)
}
