package power

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Selection picks nodes of a cluster: Names (each must exist and have a
// bmc block), or All nodes that have a bmc block; Tags, when given, keep
// only the nodes carrying every one of them. Tags alone select like All.
type Selection struct {
	Names []string
	All   bool
	Tags  map[string]string
}

// Empty reports whether s selects nothing at all (no names, no --all, no
// tags): commands refuse that rather than guess.
func (s Selection) Empty() bool { return len(s.Names) == 0 && !s.All && len(s.Tags) == 0 }

// Node is what selection needs of a node: its name, bmc block (nil:
// none) and tags. The CLI takes them from a loaded cluster (NodesOf), the
// server from its applied inventory.
type Node struct {
	Name string
	BMC  *hclspec.BMC
	Tags map[string]string
}

// NodesOf lists the nodes of c, in name order.
func NodesOf(c *hclspec.Cluster) []Node {
	out := make([]Node, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = Node{Name: n.Name, BMC: n.BMC, Tags: n.Tags}
	}
	return out
}

// Select returns the targets of the selected nodes of c (see SelectNodes).
func Select(c *hclspec.Cluster, creds map[string]Cred, sel Selection) ([]Target, error) {
	return SelectNodes(NodesOf(c), creds, sel)
}

// SelectNodes returns the targets of the selected nodes, in name order. A
// named node that does not exist or has no bmc block is an error; so is a
// selection that matches no node with a BMC. A selected node whose
// credentials are not in creds is a Target with Err set, so that it shows
// as failed beside the others.
func SelectNodes(all []Node, creds map[string]Cred, sel Selection) ([]Target, error) {
	if sel.Empty() {
		return nil, errors.New("no nodes selected: name nodes, or give --all or --tag KEY=VALUE")
	}
	byName := make(map[string]*Node, len(all))
	for i := range all {
		byName[all[i].Name] = &all[i]
	}
	var nodes []*Node
	if len(sel.Names) > 0 {
		seen := map[string]bool{}
		var unknown, noBMC []string
		for _, name := range sel.Names {
			if seen[name] {
				continue
			}
			seen[name] = true
			n, ok := byName[name]
			switch {
			case !ok:
				unknown = append(unknown, name)
			case n.BMC == nil:
				noBMC = append(noBMC, name)
			default:
				nodes = append(nodes, n)
			}
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("no such node: %s", strings.Join(unknown, ", "))
		}
		if len(noBMC) > 0 {
			return nil, fmt.Errorf("no bmc block: %s (add bmc { driver, address, credentials } to the node or a profile)", strings.Join(noBMC, ", "))
		}
	} else {
		for i := range all {
			if all[i].BMC != nil {
				nodes = append(nodes, &all[i])
			}
		}
	}
	slices.SortFunc(nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	var out []Target
	for _, n := range nodes {
		if !hasTags(n.Tags, sel.Tags) {
			continue
		}
		t := Target{Node: n.Name, BMC: *n.BMC}
		switch cred, ok := creds[n.BMC.Credentials]; {
		case n.BMC.Credentials == "":
			t.Err = errors.New("its bmc block names no credentials")
		case !ok:
			t.Err = fmt.Errorf("credentials %q are not in the credentials file", n.BMC.Credentials)
		default:
			t.Cred = cred
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no node with a bmc block matches %s", describe(sel))
	}
	return out, nil
}

func hasTags(have, tags map[string]string) bool {
	for k, v := range tags {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func describe(sel Selection) string {
	var parts []string
	if len(sel.Names) > 0 {
		parts = append(parts, strings.Join(sel.Names, ", "))
	}
	if sel.All {
		parts = append(parts, "--all")
	}
	for _, k := range slices.Sorted(maps.Keys(sel.Tags)) {
		parts = append(parts, fmt.Sprintf("--tag %s=%s", k, sel.Tags[k]))
	}
	return strings.Join(parts, " ")
}

// MaxCredentialsFile bounds the credentials file.
const MaxCredentialsFile = 1 << 20

var (
	credFileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "credentials", LabelNames: []string{"name"}}}}
	credSchema     = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "username", Required: true}, {Name: "password", Required: true}}}
)

// LoadCredentials reads a credentials file: HCL with
// `credentials "NAME" { username = "...", password = "..." }` blocks,
// literal strings only. Errors are diagnostics naming the file, line and
// attribute, never a password. A file that others may read gets a warning.
func LoadCredentials(path string) (map[string]Cred, hcl.Diagnostics) {
	fileErr := func(summary, format string, args ...any) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...),
			Subject: &hcl.Range{Filename: path}}}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fileErr("Cannot read the BMC credentials file", "%s", err)
	}
	if st.Size() > MaxCredentialsFile {
		return nil, fileErr("BMC credentials file too large", "%s is %d bytes; the limit is %d.", path, st.Size(), MaxCredentialsFile)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fileErr("Cannot read the BMC credentials file", "%s", err)
	}
	var diags hcl.Diagnostics
	if st.Mode().Perm()&0o077 != 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "BMC credentials file readable by others",
			Detail:  fmt.Sprintf("%s has mode %04o; BMC passwords belong in a file only its owner reads (chmod 600).", path, st.Mode().Perm()),
			Subject: &hcl.Range{Filename: path}})
	}
	f, d := hclparse.NewParser().ParseHCL(src, path)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, diags
	}
	content, d := f.Body.Content(credFileSchema)
	diags = append(diags, d...)
	out := map[string]Cred{}
	first := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		name := b.Labels[0]
		if prev, dup := first[name]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate credentials",
				Detail:  fmt.Sprintf("credentials %q are defined twice; the first definition is at line %d.", name, prev.Start.Line),
				Subject: b.LabelRanges[0].Ptr()})
			continue
		}
		first[name] = b.DefRange
		c, d := b.Body.Content(credSchema)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		var cred Cred
		ok := true
		for _, f := range []struct {
			attr string
			dst  *string
		}{{"username", &cred.Username}, {"password", &cred.Password}} {
			attr, dst := f.attr, f.dst
			v, d := c.Attributes[attr].Expr.Value(nil)
			if d.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type().FriendlyName() != "string" {
				ok = false
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + attr,
					Detail:  fmt.Sprintf("%s of credentials %q must be a literal string.", attr, name),
					Subject: c.Attributes[attr].Expr.Range().Ptr()})
				continue
			}
			*dst = v.AsString()
		}
		if ok && cred.Username == "" {
			ok = false
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty username",
				Detail: fmt.Sprintf("username of credentials %q is empty.", name), Subject: c.Attributes["username"].Expr.Range().Ptr()})
		}
		if ok {
			out[name] = cred
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return out, diags
}

// CheckCredentials reports the nodes whose bmc names credentials that creds
// lacks (or names none), at the node's credentials attribute (or its bmc
// address) — what `plan` and `validate` say with --bmc-credentials. Nodes
// that share the attribute (one for_each block, one profile) share one
// diagnostic that names them.
func CheckCredentials(c *hclspec.Cluster, creds map[string]Cred) hcl.Diagnostics {
	type key struct {
		name string
		rng  hcl.Range
	}
	var order []key
	nodes := map[key][]string{}
	for _, n := range c.Nodes {
		if n.BMC == nil {
			continue
		}
		k := key{n.BMC.Credentials, n.Origin("bmc.credentials")}
		if k.name == "" {
			k.rng = n.Origin("bmc.address")
		} else if _, ok := creds[k.name]; ok {
			continue
		}
		if nodes[k] == nil {
			order = append(order, k)
		}
		nodes[k] = append(nodes[k], n.Name)
	}
	names := slices.Sorted(maps.Keys(creds))
	var diags hcl.Diagnostics
	for _, k := range order {
		who := nodeList(nodes[k])
		if k.name == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "BMC without credentials",
				Detail:  fmt.Sprintf("The bmc of %s names no credentials; set credentials = \"NAME\" (a block of the BMC credentials file).", who),
				Subject: k.rng.Ptr()})
			continue
		}
		hint := " The file defines none."
		if len(names) > 0 {
			hint = fmt.Sprintf(" The file defines %s.", strings.Join(quote(names), ", "))
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown BMC credentials",
			Detail:  fmt.Sprintf("The bmc of %s names credentials %q, which the BMC credentials file does not define.%s", who, k.name, hint),
			Subject: k.rng.Ptr()})
	}
	return diags
}

// nodeList names one node, or a few and how many.
func nodeList(names []string) string {
	const show = 5
	if len(names) == 1 {
		return fmt.Sprintf("node %q", names[0])
	}
	if len(names) <= show {
		return "nodes " + strings.Join(quote(names), ", ")
	}
	return fmt.Sprintf("nodes %s and %d more", strings.Join(quote(names[:show]), ", "), len(names)-show)
}

func quote(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
