package hclspec

import (
	"fmt"
	"reflect"
	"text/template"
	"text/template/parse"
)

// ParseTemplate parses one overlay template the way validation and
// rendering both do: missing map keys are empty (missingkey=zero: a
// node without tag x reads .Node.Tags.x as ""), {{define}}, {{block}} and
// {{template}} are refused, and every field name is checked against
// TemplateData (a misspelt .Node.Nmae is an error naming the file and
// line, before any node is rendered). funcs are the functions it may call
// (TemplateFuncs, plus any the renderer binds). reads is what the
// template reads of the data (see TemplateReads).
func ParseTemplate(name, text string, funcs template.FuncMap) (t *template.Template, reads TemplateReads, err error) {
	t, err = template.New(name).Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, nil, err
	}
	if len(t.Templates()) > 1 {
		return nil, nil, fmt.Errorf("template: %s:1: {{define}} and {{block}} are not allowed in overlay templates", name)
	}
	c := checker{tree: t.Tree, reads: TemplateReads{}}
	if t.Tree != nil && t.Tree.Root != nil {
		root := tval{typ: reflect.TypeFor[TemplateData](), path: ""}
		c.list(t.Tree.Root, root, scope{"$": root})
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	return t, c.reads, nil
}

// TemplateReads is the set of TemplateData paths a template reads:
// "Node.Name", "Node.Resources.fstab", "Cluster.Nodes.IP", "Server"...
// (a slice's elements share its path). A path read means that part and
// everything under it; "" is the whole data. Ranging over a list of
// structs reads its elements' Name (the membership), not all of them.
type TemplateReads map[string]bool

// tval is what the checker knows of a value: its type (nil: unknown, as
// a function's result) and, for data, its path ("-": not data).
type tval struct {
	typ  reflect.Type
	path string
}

var noData = tval{path: "-"}

type scope map[string]tval

func (s scope) with(k string, v tval) scope {
	out := make(scope, len(s)+1)
	for a, b := range s {
		out[a] = b
	}
	out[k] = v
	return out
}

type checker struct {
	tree  *parse.Tree
	reads TemplateReads
	err   error
}

func (c *checker) fail(n parse.Node, format string, args ...any) {
	if c.err == nil {
		loc, _ := c.tree.ErrorContext(n)
		c.err = fmt.Errorf("template: %s: %s", loc, fmt.Sprintf(format, args...))
	}
}

// use records that v is read as a whole (printed, passed to a function).
func (c *checker) use(v tval) {
	if v.path == "-" {
		return
	}
	if v.typ != nil && v.typ.Kind() == reflect.Struct && v.path != "" {
		// A struct is used as a whole: everything under it is read.
		c.reads[v.path] = true
		return
	}
	c.reads[v.path] = true
}

func join(p, f string) string {
	if p == "-" {
		return "-"
	}
	if p == "" {
		return f
	}
	return p + "." + f
}

// list checks the nodes of a list; variables declared in it are visible
// to its later nodes only.
func (c *checker) list(l *parse.ListNode, dot tval, vars scope) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		vars = c.node(n, dot, vars)
	}
}

func (c *checker) node(n parse.Node, dot tval, vars scope) scope {
	switch n := n.(type) {
	case *parse.ActionNode:
		v := c.pipe(n.Pipe, dot, vars)
		if len(n.Pipe.Decl) == 0 {
			c.use(v)
		}
		return c.declare(n.Pipe, v, vars)
	case *parse.IfNode:
		v := c.pipe(n.Pipe, dot, vars)
		c.cond(v)
		inner := c.declare(n.Pipe, v, vars)
		c.list(n.List, dot, inner)
		c.list(n.ElseList, dot, inner)
	case *parse.WithNode:
		v := c.pipe(n.Pipe, dot, vars)
		c.cond(v)
		inner := c.declare(n.Pipe, v, vars)
		c.list(n.List, v, inner)
		c.list(n.ElseList, dot, inner)
	case *parse.RangeNode:
		v := c.pipe(n.Pipe, dot, vars)
		elem, key := c.rangeOver(v)
		inner := vars
		switch len(n.Pipe.Decl) {
		case 1:
			inner = inner.with(n.Pipe.Decl[0].Ident[0], elem)
		case 2:
			inner = inner.with(n.Pipe.Decl[0].Ident[0], key).with(n.Pipe.Decl[1].Ident[0], elem)
		}
		c.list(n.List, elem, inner)
		c.list(n.ElseList, dot, vars)
	case *parse.TemplateNode:
		c.fail(n, "{{template}} is not allowed in overlay templates")
	}
	return vars
}

// cond records what testing v's truth reads: a struct is always true.
func (c *checker) cond(v tval) {
	if v.typ != nil && v.typ.Kind() == reflect.Struct {
		return
	}
	c.use(v)
}

// rangeOver gives the element and key of ranging over v, and records
// what that reads.
func (c *checker) rangeOver(v tval) (elem, key tval) {
	if v.typ == nil || v.path == "-" {
		c.use(v)
		return tval{path: v.path}, noData
	}
	t := v.typ
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Struct {
			c.reads[join(v.path, "Name")] = true
		} else {
			c.use(v)
		}
		return tval{typ: t.Elem(), path: v.path}, noData
	case reflect.Map:
		c.use(v)
		return tval{typ: t.Elem(), path: v.path}, noData
	}
	c.use(v)
	return tval{path: v.path}, noData
}

// declare adds the variables a pipeline declares ($x := ...).
func (c *checker) declare(p *parse.PipeNode, v tval, vars scope) scope {
	if p == nil || p.IsAssign || len(p.Decl) != 1 {
		return vars
	}
	return vars.with(p.Decl[0].Ident[0], v)
}

func (c *checker) pipe(p *parse.PipeNode, dot tval, vars scope) tval {
	if p == nil {
		return noData
	}
	v := noData
	for i, cmd := range p.Cmds {
		v = c.command(cmd, dot, vars, i > 0, v)
	}
	return v
}

// command checks one command of a pipeline; final is the previous
// command's value (hasFinal: there is one), passed as its last argument.
func (c *checker) command(cmd *parse.CommandNode, dot tval, vars scope, hasFinal bool, final tval) tval {
	if len(cmd.Args) == 0 {
		return noData
	}
	if _, fn := cmd.Args[0].(*parse.IdentifierNode); fn || len(cmd.Args) > 1 || hasFinal {
		for _, a := range cmd.Args[1:] {
			c.use(c.arg(a, dot, vars))
		}
		if !fn {
			c.use(c.arg(cmd.Args[0], dot, vars))
		}
		if hasFinal {
			c.use(final)
		}
		return tval{path: "-"}
	}
	return c.arg(cmd.Args[0], dot, vars)
}

func (c *checker) arg(n parse.Node, dot tval, vars scope) tval {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return c.fields(n, dot, n.Ident)
	case *parse.VariableNode:
		v, ok := vars[n.Ident[0]]
		if !ok {
			v = tval{path: "-"} // text/template's parser already refuses undefined variables
		}
		return c.fields(n, v, n.Ident[1:])
	case *parse.ChainNode:
		return c.fields(n, c.arg(n.Node, dot, vars), n.Field)
	case *parse.PipeNode:
		return c.pipe(n, dot, vars)
	}
	return noData
}

// fields follows a chain of field names from v, checking each against
// the struct it names.
func (c *checker) fields(n parse.Node, v tval, names []string) tval {
	for _, f := range names {
		if v.typ == nil {
			v = tval{path: join(v.path, f)}
			continue
		}
		t := v.typ
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			sf, ok := t.FieldByName(f)
			if !ok || !sf.IsExported() {
				c.fail(n, "can't evaluate field %s in type %s (its fields: %s)", f, t.Name(), fieldNames(t))
				return tval{path: "-"}
			}
			v = tval{typ: sf.Type, path: join(v.path, f)}
		case reflect.Map:
			if t.Key().Kind() != reflect.String {
				c.fail(n, "can't evaluate key %s of %s", f, t)
				return tval{path: "-"}
			}
			v = tval{typ: t.Elem(), path: join(v.path, f)}
		case reflect.Interface:
			v = tval{path: join(v.path, f)}
		default:
			c.fail(n, "can't evaluate field %s in type %s", f, t)
			return tval{path: "-"}
		}
		if v.typ != nil && v.typ.Kind() == reflect.Interface {
			v.typ = nil
		}
	}
	return v
}

func fieldNames(t reflect.Type) string {
	s := ""
	for i := range t.NumField() {
		if i > 0 {
			s += ", "
		}
		s += t.Field(i).Name
	}
	return s
}
