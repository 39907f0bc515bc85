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
	"strings"

	"github.com/gitboot/gitboot/hclspec"
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
