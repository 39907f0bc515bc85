package hclspec

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoServer is what PickServer returns when asked for the only server of
// a repository that declares none. Callers that can do without a server
// (an artifact build serves every node then) check it with errors.Is.
var ErrNoServer = errors.New(`the repository declares no server block; add server "NAME" { address = "..." }`)

// PickServer returns the server block named name or, when name is "", the
// only server block. Its errors are meant for the person who ran the
// command: an unknown name lists the declared servers, and several servers
// with no name ask for --server. A repository without server blocks gives
// ErrNoServer (unwrapped) when name is "".
func (c *Cluster) PickServer(name string) (*Server, error) {
	if name != "" {
		if s, ok := c.Server(name); ok {
			return s, nil
		}
		return nil, fmt.Errorf("no server block named %q (declared: %s)", name, c.serverNames())
	}
	switch len(c.Servers) {
	case 0:
		return nil, ErrNoServer
	case 1:
		return c.Servers[0], nil
	}
	return nil, fmt.Errorf("the repository declares several servers (%s): choose one with --server", c.serverNames())
}

func (c *Cluster) serverNames() string {
	if len(c.Servers) == 0 {
		return "none"
	}
	names := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
