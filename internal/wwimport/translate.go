package wwimport

import (
	"fmt"
	"sort"
	"strings"
	"text/template/parse"

	"github.com/gitboot/gitboot/hclspec"
)

// Warewulf overlay templates (*.ww) become gitboot templates (*.tmpl) when
// they only read fields gitboot has and use range, if, with and the
// built-in functions. Anything else (Include*, file, softlink, nobackup,
// fields gitboot lacks) keeps the template as it was, with a reason.

// kind is what a template value holds, as far as translation knows.
type kind int

const (
	kOther   kind = iota // a string, number or unknown value: no fields
	kTop                 // Warewulf's dot: the node inline plus the server's settings
	kNode                // one node (.ThisNode, an element of .AllNodes)
	kNodes               // .AllNodes
	kNetDevs             // .NetDevs
	kNetDev              // one network device
	kMap                 // .Tags: any key
	kKey                 // a range's key over .NetDevs: the device name, an index in gitboot
)

// fieldMap says what each Warewulf field becomes: the gitboot path and the
// kind of its value.
type fieldMap map[string]struct {
	path []string
	k    kind
}

var nodeFields = fieldMap{
	"Id":       {[]string{"Name"}, kOther},
	"Hostname": {[]string{"Name"}, kOther},
	"Tags":     {[]string{"Tags"}, kMap},
	"NetDevs":  {[]string{"Interfaces"}, kNetDevs},
}

var topFields = fieldMap{
	"Id":          {[]string{"Node", "Name"}, kOther},
	"Hostname":    {[]string{"Node", "Name"}, kOther},
	"Tags":        {[]string{"Node", "Tags"}, kMap},
	"NetDevs":     {[]string{"Node", "Interfaces"}, kNetDevs},
	"AllNodes":    {[]string{"Cluster", "Nodes"}, kNodes},
	"ThisNode":    {[]string{"Node"}, kNode},
	"Ipaddr":      {[]string{"Server", "Address"}, kOther},
	"Netmask":     {[]string{"Network", "Netmask"}, kOther},
	"NetworkCIDR": {[]string{"Network", "Subnet"}, kOther},
}

var netdevFields = fieldMap{
	"Device": {[]string{"Name"}, kOther},
	"Hwaddr": {[]string{"MAC"}, kOther},
	"Ipaddr": {[]string{"IP"}, kOther},
	"Type":   {[]string{"Type"}, kOther},
	"MTU":    {[]string{"MTU"}, kOther},
}

// builtinFuncs are text/template's own functions; gitboot renders with
// them and hclspec.TemplateFuncs.
var builtinFuncs = map[string]bool{
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true, "print": true,
	"printf": true, "println": true, "eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"html": true, "js": true, "urlquery": true,
}

// translator rewrites one template.
type translator struct {
	netdevs bool // the template reads .NetDevs: worth a look after translation
	src     string
	edits   []edit
	vars    map[string]kind
}

type edit struct {
	pos     int
	old, nw string
}

// translateTemplate returns the gitboot form of a Warewulf template, or
// why it cannot; netdevs says it ranges over the network devices.
func translateTemplate(name, src string) (out string, netdevs bool, err error) {
	t := parse.New(name)
	t.Mode = parse.SkipFuncCheck | parse.ParseComments
	trees := map[string]*parse.Tree{}
	if _, err := t.Parse(src, "", "", trees); err != nil {
		return "", false, fmt.Errorf("does not parse: %v", err)
	}
	if len(trees) != 1 {
		return "", false, fmt.Errorf("defines templates ({{define}}/{{block}}), which gitboot refuses")
	}
	tr := &translator{src: src, vars: map[string]kind{"$": kTop}}
	if err := tr.list(t.Root, kTop); err != nil {
		return "", false, err
	}
	sort.Slice(tr.edits, func(i, j int) bool { return tr.edits[i].pos > tr.edits[j].pos })
	out = src
	for _, e := range tr.edits {
		out = out[:e.pos] + e.nw + out[e.pos+len(e.old):]
	}
	return out, tr.netdevs, nil
}

func (tr *translator) list(l *parse.ListNode, dot kind) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := tr.node(n, dot); err != nil {
			return err
		}
	}
	return nil
}

func (tr *translator) node(n parse.Node, dot kind) error {
	switch n := n.(type) {
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return nil
	case *parse.ActionNode:
		_, err := tr.pipe(n.Pipe, dot)
		return err
	case *parse.IfNode:
		return tr.branch(&n.BranchNode, dot, false)
	case *parse.WithNode:
		return tr.branch(&n.BranchNode, dot, true)
	case *parse.RangeNode:
		k, err := tr.pipe(n.Pipe, dot)
		if err != nil {
			return err
		}
		elem := kOther
		switch k {
		case kNodes:
			elem = kNode
		case kNetDevs:
			elem = kNetDev
		}
		if len(n.Pipe.Decl) == 2 {
			key := kOther
			if k == kNetDevs {
				key = kKey // a device name in Warewulf, an index in gitboot
			}
			tr.vars[n.Pipe.Decl[0].Ident[0]] = key
			tr.vars[n.Pipe.Decl[1].Ident[0]] = elem
		} else if len(n.Pipe.Decl) == 1 {
			tr.vars[n.Pipe.Decl[0].Ident[0]] = elem
		}
		if err := tr.list(n.List, elem); err != nil {
			return err
		}
		return tr.list(n.ElseList, dot)
	case *parse.TemplateNode:
		return fmt.Errorf("calls {{template %q}}", n.Name)
	}
	return fmt.Errorf("uses %s, which the importer does not translate", n)
}

func (tr *translator) branch(b *parse.BranchNode, dot kind, with bool) error {
	k, err := tr.pipe(b.Pipe, dot)
	if err != nil {
		return err
	}
	inner := dot
	if with {
		inner = k
	}
	if err := tr.list(b.List, inner); err != nil {
		return err
	}
	return tr.list(b.ElseList, dot)
}

// pipe checks and rewrites a pipeline and returns the kind of its value.
func (tr *translator) pipe(p *parse.PipeNode, dot kind) (kind, error) {
	if p == nil {
		return kOther, nil
	}
	k := kOther
	for _, c := range p.Cmds {
		var err error
		if k, err = tr.command(c, dot); err != nil {
			return kOther, err
		}
	}
	if len(p.Cmds) != 1 {
		k = kOther
	}
	if !p.IsAssign {
		for _, v := range p.Decl {
			if len(p.Decl) == 1 {
				tr.vars[v.Ident[0]] = k
			}
		}
	}
	return k, nil
}

func (tr *translator) command(c *parse.CommandNode, dot kind) (kind, error) {
	k := kOther
	for i, a := range c.Args {
		var err error
		switch a := a.(type) {
		case *parse.IdentifierNode:
			if !builtinFuncs[a.Ident] && hclspec.TemplateFuncs()[a.Ident] == nil || a.Ident == "join" {
				return kOther, fmt.Errorf("calls %s, which gitboot templates do not have", a.Ident)
			}
		case *parse.FieldNode:
			k, err = tr.field(a.Position(), a.String(), "", a.Ident, dot)
		case *parse.VariableNode:
			vk, ok := tr.vars[a.Ident[0]]
			if !ok {
				return kOther, fmt.Errorf("uses the variable %s before it is declared", a.Ident[0])
			}
			if vk == kKey {
				return kOther, fmt.Errorf("uses %s, a network device's name: gitboot ranges over a list of interfaces (use .Name)", a.Ident[0])
			}
			k = vk
			if len(a.Ident) > 1 {
				k, err = tr.field(a.Position(), a.String(), a.Ident[0], a.Ident[1:], vk)
			}
		case *parse.DotNode:
			k = dot
		case *parse.PipeNode:
			k, err = tr.pipe(a, dot)
		case *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
			k = kOther
		default:
			return kOther, fmt.Errorf("uses %s, which the importer does not translate", a)
		}
		if err != nil {
			return kOther, err
		}
		if i > 0 {
			k = kOther
		}
	}
	return k, nil
}

// field rewrites a field chain read from a value of kind k; prefix is the
// variable it starts from ("" for dot).
func (tr *translator) field(pos parse.Pos, orig, prefix string, idents []string, k kind) (kind, error) {
	var out []string
	for i := 0; i < len(idents); i++ {
		id := idents[i]
		var m fieldMap
		switch k {
		case kTop:
			m = topFields
		case kNode:
			m = nodeFields
		case kNetDev:
			m = netdevFields
		case kMap:
			out, k = append(out, id), kOther
			continue
		default:
			return kOther, fmt.Errorf("reads .%s, which gitboot has no equivalent for", strings.Join(idents[:i+1], "."))
		}
		if id == "Kernel" && (k == kTop || k == kNode) && i+1 < len(idents) && idents[i+1] == "Args" {
			if k == kTop {
				out = append(out, "Node")
			}
			out, k = append(out, "KernelArgs"), kOther
			i++
			continue
		}
		f, ok := m[id]
		if f.k == kNetDevs {
			tr.netdevs = true
		}
		if !ok {
			return kOther, fmt.Errorf("reads .%s, which gitboot has no equivalent for", strings.Join(idents[:i+1], "."))
		}
		out, k = append(out, f.path...), f.k
	}
	nw := prefix + "." + strings.Join(out, ".")
	// The parser's position of a chain is that of its last element.
	p := int(pos) + len(idents[len(idents)-1]) + 1 - len(orig)
	if p < 0 || p+len(orig) > len(tr.src) || tr.src[p:p+len(orig)] != orig {
		return kOther, fmt.Errorf("could not locate %s in the template text", orig)
	}
	tr.edits = append(tr.edits, edit{pos: p, old: orig, nw: nw})
	return k, nil
}
