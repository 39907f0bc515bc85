package artifact

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// TemplateData is what an overlay template (*.tmpl) sees as dot.
type TemplateData struct {
	Node    TemplateNode
	Network TemplateNetwork
	Cluster TemplateCluster
	Server  TemplateServer
}

// TemplateNode is one node as templates see it.
type TemplateNode struct {
	Name       string
	MAC        string
	IP         string // empty when the node has no address
	Network    string // network name
	Domain     string // its network's domain
	Tags       map[string]string
	KernelArgs []string
	// Interfaces are the node's interface blocks (none: nil), sorted by
	// name.
	Interfaces []TemplateInterface
}

// TemplateNetwork is the node's network.
type TemplateNetwork struct {
	Name    string
	Subnet  string // "10.99.0.0/24"
	Prefix  int    // 24
	Netmask string // "255.255.255.0"
	Gateway string
	DNS     []string
	Domain  string
}

// TemplateCluster holds every node of the cluster, sorted by name.
type TemplateCluster struct {
	Nodes []TemplateNode
}

// TemplateServer is the gitboot server the node boots from.
type TemplateServer struct {
	Name     string
	Address  string
	HTTPPort int
	URL      string // "http://10.99.0.1:9873"
}

// Limits for rendering one template file.
const maxRenderOutput = 64 << 20

// renderTimeout bounds rendering one template file (a variable for tests).
var renderTimeout = 20 * time.Second

// deps says which parts of TemplateData a template reads; a node's overlay
// is rebuilt only when one of those parts changes for it.
type deps uint8

const (
	depNode deps = 1 << iota
	depNetwork
	depCluster
	depServer
	depAll = depNode | depNetwork | depCluster | depServer
)

// rangeCheckFunc is appended to every {{range}} pipeline: ranging over an
// integer (text/template allows it since Go 1.24) could loop for hours, and
// a variable holding a number escapes any check of the parse tree. It is
// also where a render past its timeout stops: text/template cannot be
// cancelled, and a loop that writes nothing never reaches the writer's
// check, but every loop starts a range (nested ranges over the cluster's
// nodes, N^k iterations, start the inner range N^(k-1) times), so the
// check runs at least once per pass of an innermost loop.
const rangeCheckFunc = "gitbootRangeCheck"

// errRenderStopped ends a template whose render timed out.
var errRenderStopped = errors.New("stopped: over its time limit")

// rangeCheck is the range check of one render: it fails once stop is set.
func rangeCheck(stop *atomic.Bool) func(v any) (any, error) {
	return func(v any) (any, error) {
		if stop != nil && stop.Load() {
			return nil, errRenderStopped
		}
		switch reflect.ValueOf(v).Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return nil, errors.New("range over a number is not allowed in overlay templates")
		}
		return v, nil
	}
}

// templateFuncs are the functions validation allows too, plus the range
// check (render binds one that can stop it).
var templateFuncs = func() template.FuncMap {
	m := hclspec.TemplateFuncs()
	m[rangeCheckFunc] = rangeCheck(nil)
	return m
}()

// parseTemplate parses one overlay template and works out what it reads.
// {{define}}, {{template}} and {{block}} are refused (they allow unbounded
// recursion), as is ranging over a number.
func parseTemplate(name, text string) (*template.Template, deps, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, 0, err
	}
	if len(t.Templates()) > 1 {
		return nil, 0, fmt.Errorf("template: %s: {{define}} and {{block}} are not allowed in overlay templates", name)
	}
	a := analyzer{name: name, tree: t.Tree}
	if t.Tree != nil && t.Tree.Root != nil {
		a.walk(t.Tree.Root, true)
	}
	if a.err != nil {
		return nil, 0, a.err
	}
	return t, a.deps, nil
}

type analyzer struct {
	name string
	tree *parse.Tree
	deps deps
	err  error
}

func (a *analyzer) fail(n parse.Node, msg string) {
	if a.err == nil {
		loc, _ := a.tree.ErrorContext(n)
		a.err = fmt.Errorf("template: %s: %s", loc, msg)
	}
}

// walk visits n; root tells whether dot is still the TemplateData.
func (a *analyzer) walk(n parse.Node, root bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			a.walk(c, root)
		}
	case *parse.ActionNode:
		a.pipe(n.Pipe, root)
	case *parse.IfNode:
		a.pipe(n.Pipe, root)
		a.walk(n.List, root)
		a.walk(n.ElseList, root)
	case *parse.WithNode:
		a.pipe(n.Pipe, root)
		a.walk(n.List, false)
		a.walk(n.ElseList, root)
	case *parse.RangeNode:
		defer func() {
			check := parse.NewIdentifier(rangeCheckFunc).SetTree(a.tree).SetPos(n.Pos)
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{check}})
		}()
		if cmds := n.Pipe.Cmds; len(cmds) > 0 {
			last := cmds[len(cmds)-1]
			if len(last.Args) == 1 {
				if _, ok := last.Args[0].(*parse.NumberNode); ok {
					a.fail(n, "range over a number is not allowed in overlay templates")
				}
			}
		}
		a.pipe(n.Pipe, root)
		a.walk(n.List, false)
		a.walk(n.ElseList, root)
	case *parse.TemplateNode:
		a.fail(n, "{{template}} is not allowed in overlay templates")
	}
}

func (a *analyzer) pipe(p *parse.PipeNode, root bool) {
	if p == nil {
		return
	}
	for _, c := range p.Cmds {
		for _, arg := range c.Args {
			a.arg(arg, root)
		}
	}
}

func (a *analyzer) arg(n parse.Node, root bool) {
	switch n := n.(type) {
	case *parse.FieldNode:
		if root {
			a.field(n.Ident[0])
		}
	case *parse.DotNode:
		if root {
			a.deps |= depAll
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			if len(n.Ident) > 1 {
				a.field(n.Ident[1])
			} else {
				a.deps |= depAll
			}
		}
	case *parse.ChainNode:
		a.arg(n.Node, root)
	case *parse.PipeNode:
		a.pipe(n, root)
	}
}

func (a *analyzer) field(name string) {
	switch name {
	case "Node":
		a.deps |= depNode
	case "Network":
		a.deps |= depNetwork
	case "Cluster":
		a.deps |= depCluster
	case "Server":
		a.deps |= depServer
	default:
		a.deps |= depAll // an error at execution; keep it conservative
	}
}

// errOutputTooLarge stops a template whose output grows without bound.
var errOutputTooLarge = errors.New("output larger than 64 MiB")

type limitedBuffer struct {
	b    []byte
	stop *atomic.Bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.stop.Load() {
		return 0, errRenderStopped
	}
	if len(l.b)+len(p) > maxRenderOutput {
		return 0, errOutputTooLarge
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

// render executes t. A template still running after renderTimeout is
// reported as an error, and stopped: at its next write or the next start
// of a range (see rangeCheckFunc), whichever comes first.
func render(t *template.Template, data *TemplateData) ([]byte, error) {
	stop := new(atomic.Bool)
	rt, err := t.Clone()
	if err != nil {
		return nil, fmt.Errorf("template: %s: %w", t.Name(), err)
	}
	rt.Funcs(template.FuncMap{rangeCheckFunc: rangeCheck(stop)})
	out := &limitedBuffer{stop: stop}
	done := make(chan error, 1)
	go func() { done <- rt.Execute(out, data) }()
	timer := time.NewTimer(renderTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			if !strings.HasPrefix(err.Error(), "template: ") {
				err = fmt.Errorf("template: %s: %w", t.Name(), err)
			}
			return nil, err
		}
		return out.b, nil
	case <-timer.C:
		stop.Store(true)
		return nil, fmt.Errorf("template: %s: still running after %s (a loop?)", t.Name(), renderTimeout)
	}
}
