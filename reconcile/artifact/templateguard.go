package artifact

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sync"
	"sync/atomic"
	"text/template/parse"
)

// Guards of one render beyond the output cap and the timeout. A template
// cannot allocate much without calling functions (fields and variables
// only point into the data), so after every function call the rewritten
// tree calls accountFunc, which adds the size of what the call returned
// (all of it, data it points into too) to the render's allocations and
// stops the render past maxRenderAlloc. Each call's own allocation is
// bounded by the size of its arguments, which were accounted already, or
// by the caps of the functions that allocate by a count (see
// hclspec.TemplateFuncs). The same check stops a render past its time.

// maxRenderAlloc bounds what one render's function calls produce in all:
// twice the output cap, so a template that writes what it computes meets
// the output cap first.
const maxRenderAlloc = 2 * maxRenderOutput

// accountFunc follows every function call of a rewritten template.
const accountFunc = "gitbootAccount"

// printFunc ends every printing action: a nil value (a missing key of a
// map[string]any, as .Node.Resources) prints as "", not "<no value>".
const printFunc = "gitbootPrint"

// renderCtx is the state of one render, found by the address of the
// render's copy of the data ($, which the rewritten tree passes to the
// guard functions): its stop flag and what it may still allocate. Add
// per-render state here.
type renderCtx struct {
	stop atomic.Bool
	left int64
}

// renders maps each running render's *TemplateData to its *renderCtx.
var renders sync.Map

// renderOf is data's render (nil: none, as when validation parses).
func renderOf(data *TemplateData) *renderCtx {
	if v, ok := renders.Load(data); ok {
		return v.(*renderCtx)
	}
	return nil
}

// account is accountFunc: it checks the stop flag and charges v's size.
func account(data *TemplateData, v reflect.Value) (reflect.Value, error) {
	rc := renderOf(data)
	if rc == nil {
		return v, nil
	}
	if rc.stop.Load() {
		return reflect.Value{}, errRenderStopped
	}
	n, ok := sizeOf(v, rc.left, 0)
	if !ok || n > rc.left {
		return reflect.Value{}, fmt.Errorf("its function calls produce more than %d MiB (a loop building strings or lists?)", maxRenderAlloc>>20)
	}
	rc.left -= n
	return v, nil
}

// sizeOf estimates the bytes v holds, all of it; ok is false once that
// passes limit (the walk stops there) or v nests deeper than any data
// does.
func sizeOf(v reflect.Value, limit int64, depth int) (int64, bool) {
	if depth > 64 {
		return 0, false
	}
	switch v.Kind() {
	case reflect.Invalid:
		return 0, true
	case reflect.String:
		return int64(v.Len()) + 16, true
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 8, true
		}
		n, ok := sizeOf(v.Elem(), limit-16, depth+1)
		return n + 16, ok
	case reflect.Slice, reflect.Array:
		total := int64(24)
		for i := range v.Len() {
			n, ok := sizeOf(v.Index(i), limit-total, depth+1)
			total += n
			if !ok || total > limit {
				return total, false
			}
		}
		return total, true
	case reflect.Map:
		total := int64(48)
		for it := v.MapRange(); it.Next(); {
			k, ok := sizeOf(it.Key(), limit-total, depth+1)
			total += k + 16
			if !ok {
				return total, false
			}
			n, ok := sizeOf(it.Value(), limit-total, depth+1)
			total += n
			if !ok || total > limit {
				return total, false
			}
		}
		return total, true
	case reflect.Struct:
		total := int64(0)
		for i := range v.NumField() {
			n, ok := sizeOf(v.Field(i), limit-total, depth+1)
			total += n
			if !ok || total > limit {
				return total, false
			}
		}
		return total, true
	}
	return 8, true
}

// internalCallRE matches text/template's naming of the guard functions in
// its errors ("at <gitbootAccount>: error calling gitbootAccount: "): the
// position before it is the call that failed.
var internalCallRE = regexp.MustCompile(` at <gitboot(Account|RangeCheck)>: error calling gitboot(Account|RangeCheck): `)

// cleanRenderError drops the guard functions' names from err.
func cleanRenderError(err error) error {
	if msg := err.Error(); internalCallRE.MatchString(msg) {
		return errors.New(internalCallRE.ReplaceAllString(msg, ": "))
	}
	return err
}

// printValue is printFunc.
func printValue(v reflect.Value) reflect.Value {
	if !v.IsValid() || v.Kind() == reflect.Interface && v.IsNil() {
		return reflect.ValueOf("")
	}
	return v
}

// rewriter rewrites a parsed template's tree for rendering: a range check
// on every {{range}}, an accountFunc after every function call, a
// printFunc at the end of every printing action.
type rewriter struct {
	tree *parse.Tree
	err  error
}

func (r *rewriter) fail(n parse.Node, msg string) {
	if r.err == nil {
		loc, _ := r.tree.ErrorContext(n)
		r.err = fmt.Errorf("template: %s: %s", loc, msg)
	}
}

func (r *rewriter) list(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		r.node(n)
	}
}

func (r *rewriter) node(n parse.Node) {
	switch n := n.(type) {
	case *parse.ActionNode:
		r.pipe(n.Pipe)
		if len(n.Pipe.Decl) == 0 {
			n.Pipe.Cmds = append(n.Pipe.Cmds, r.call(printFunc, n.Pos))
		}
	case *parse.IfNode:
		r.pipe(n.Pipe)
		r.list(n.List)
		r.list(n.ElseList)
	case *parse.WithNode:
		r.pipe(n.Pipe)
		r.list(n.List)
		r.list(n.ElseList)
	case *parse.RangeNode:
		if cmds := n.Pipe.Cmds; len(cmds) > 0 {
			last := cmds[len(cmds)-1]
			if len(last.Args) == 1 {
				if _, ok := last.Args[0].(*parse.NumberNode); ok {
					r.fail(n, "range over a number is not allowed in overlay templates (use until)")
				}
			}
		}
		r.pipe(n.Pipe)
		n.Pipe.Cmds = append(n.Pipe.Cmds, r.call(rangeCheckFunc, n.Pos))
		r.list(n.List)
		r.list(n.ElseList)
	case *parse.TemplateNode:
		r.fail(n, "{{template}} is not allowed in overlay templates")
	}
}

// call is a command calling the guard function name. The guards (but
// printFunc) take $ first: the render's data, which finds its state.
func (r *rewriter) call(name string, pos parse.Pos) *parse.CommandNode {
	id := parse.NewIdentifier(name).SetTree(r.tree).SetPos(pos)
	args := []parse.Node{id}
	if name != printFunc {
		args = append(args, &parse.VariableNode{NodeType: parse.NodeVariable, Pos: pos, Ident: []string{"$"}})
	}
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: args}
}

// pipe adds accountFunc after each function call of p (and of the
// pipelines in its arguments).
func (r *rewriter) pipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	cmds := make([]*parse.CommandNode, 0, 2*len(p.Cmds))
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			r.arg(a)
		}
		cmds = append(cmds, c)
		if len(c.Args) > 0 {
			if _, fn := c.Args[0].(*parse.IdentifierNode); fn {
				cmds = append(cmds, r.call(accountFunc, c.Pos))
			}
		}
	}
	p.Cmds = cmds
}

func (r *rewriter) arg(n parse.Node) {
	switch n := n.(type) {
	case *parse.PipeNode:
		r.pipe(n)
	case *parse.ChainNode:
		r.arg(n.Node)
	}
}
