package artifact

import (
	"slices"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
)

// deps says which parts of TemplateData a template reads; a node's overlay
// is rebuilt only when one of those parts changes for it. The first four
// are the parts templates had from the start (their keys stay as they
// were); the rest are hashed apart, so a change of a node's resources (or
// image, profiles, BMC) rebuilds only the overlays whose templates read
// them.
type deps uint16

const (
	depNode    deps = 1 << iota // Name MAC IP Network Domain Tags KernelArgs Interfaces
	depNetwork                  // .Network
	depCluster                  // .Cluster.Nodes: what depNode covers, of every node
	depServer
	depNodeExtra     // .Node.Profiles, .Node.Image, .Node.BMC
	depNodeRes       // .Node.Resources
	depClusterExtra  // .Cluster.Nodes' Profiles, Image, BMC
	depClusterRes    // .Cluster.Nodes' Resources
	depNetworks      // .Networks
	depAll           = depNode | depNetwork | depCluster | depServer | depNodeExtra | depNodeRes | depClusterExtra | depClusterRes | depNetworks
	depNodeAny       = depNode | depNodeExtra | depNodeRes
	depClusterAny    = depCluster | depClusterExtra | depClusterRes
	depsOfFirstBuild = depNode | depNetwork | depCluster | depServer // the parts hashed in one byte
)

// extraNodeFields are the node fields depNodeExtra covers.
var extraNodeFields = map[string]bool{"Profiles": true, "Image": true, "BMC": true}

// depsOf maps what a template reads (hclspec.TemplateReads) to deps.
func depsOf(reads hclspec.TemplateReads) deps {
	var d deps
	for r := range reads {
		d |= depsOfPath(r)
	}
	return d
}

func depsOfPath(p string) deps {
	if p == "" {
		return depAll
	}
	parts := strings.Split(p, ".")
	switch parts[0] {
	case "Node":
		if len(parts) == 1 {
			return depNodeAny
		}
		return nodeFieldDep(parts[1], depNode, depNodeExtra, depNodeRes)
	case "Cluster":
		if len(parts) < 3 {
			return depClusterAny
		}
		return nodeFieldDep(parts[2], depCluster, depClusterExtra, depClusterRes)
	case "Network":
		return depNetwork
	case "Networks":
		return depNetworks
	case "Server":
		return depServer
	}
	return depAll // checked at parse: not reached
}

func nodeFieldDep(field string, basic, extra, res deps) deps {
	switch {
	case field == "Resources":
		return res
	case extraNodeFields[field]:
		return extra
	}
	return basic
}

// resSel selects the top-level keys of the nodes' resources a template
// reads (of .Node.Resources and .Cluster.Nodes' together): "" none, "*"
// all of them, else the keys sorted and joined by NUL. Input keys hash
// only those, so a change of a resource no template reads plans nothing.
type resSel string

const resAll resSel = "*"

// resSelOf works out the resource keys reads covers.
func resSelOf(reads hclspec.TemplateReads) resSel {
	var keys []string
	for r := range reads {
		parts := strings.Split(r, ".")
		var rest []string
		switch {
		case r == "" || r == "Node" || r == "Cluster" || r == "Cluster.Nodes":
			return resAll
		case parts[0] == "Node" && parts[1] == "Resources":
			rest = parts[2:]
		case parts[0] == "Cluster" && len(parts) > 2 && parts[2] == "Resources":
			rest = parts[3:]
		default:
			continue
		}
		if len(rest) == 0 {
			return resAll
		}
		keys = append(keys, rest[0])
	}
	return selOf(keys)
}

func selOf(keys []string) resSel {
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	return resSel(strings.Join(slices.Compact(keys), "\x00"))
}

// union is the keys of s and o.
func (s resSel) union(o resSel) resSel {
	switch {
	case s == resAll || o == resAll:
		return resAll
	case s == "":
		return o
	case o == "":
		return s
	}
	return selOf(append(strings.Split(string(s), "\x00"), strings.Split(string(o), "\x00")...))
}

// pick is the part of r s selects.
func (s resSel) pick(r hclspec.Resources) hclspec.Resources {
	if s == resAll || len(r) == 0 {
		return r
	}
	out := hclspec.Resources{}
	for _, k := range strings.Split(string(s), "\x00") {
		if v, ok := r[k]; ok {
			out[k] = v
		}
	}
	return out
}
