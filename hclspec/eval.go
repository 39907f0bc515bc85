package hclspec

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Reference roots: block kinds a traversal may name, plus var, local, each.
var refKinds = []string{"server", "network", "image", "overlay", "profile"}

// declared holds the names of every labelled block, by kind, with the range
// of its first declaration.
type declared map[string]map[string]hcl.Range

type varDecl struct {
	typ   cty.Type
	value cty.Value
	rng   hcl.Range
}

// declare records block names and reports duplicates.
func (l *loader) declare(blocks []rawBlock) {
	l.decl = declared{}
	for _, k := range append(refKinds, "variable") {
		l.decl[k] = map[string]hcl.Range{}
	}
	for _, b := range blocks {
		if b.typ == "locals" || b.typ == "node" || b.typ == "user" || b.typ == "group" { // users.go checks account names
			continue
		}
		if !validName(b.name) {
			l.errorf(b.block.LabelRanges[0].Ptr(), "Invalid name",
				"%s name %q must start with a letter and hold only letters, digits, '_' and '-'.", b.typ, b.name)
			continue
		}
		if first, dup := l.decl[b.typ][b.name]; dup {
			l.errorf(b.block.LabelRanges[0].Ptr(), fmt.Sprintf("Duplicate %s %q", b.typ, b.name),
				"A %s named %q is already declared at %s.", b.typ, b.name, first.String())
			continue
		}
		l.decl[b.typ][b.name] = b.block.LabelRanges[0]
	}
}

func validName(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

var variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "default"}, {Name: "type"}, {Name: "description"},
}}

// evalVariables evaluates variable blocks and applies Options.Vars.
func (l *loader) evalVariables(blocks []rawBlock) {
	l.vars = map[string]varDecl{}
	for _, b := range blocks {
		if b.typ != "variable" {
			continue
		}
		content, diags := b.block.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		v := varDecl{typ: cty.DynamicPseudoType, value: cty.NilVal, rng: b.block.LabelRanges[0]}
		if a, ok := content.Attributes["type"]; ok {
			ty, diags := typeexpr.TypeConstraint(a.Expr)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				v.typ = ty
			}
		}
		if a, ok := content.Attributes["default"]; ok {
			val, diags := a.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				cv, err := convert.Convert(val, v.typ)
				if err != nil {
					l.errorf(a.Expr.Range().Ptr(), "Invalid default value for variable",
						"The default for variable %q is not a %s: %s.", b.name, v.typ.FriendlyName(), err)
				} else {
					v.value = cv
				}
			}
		}
		l.vars[b.name] = v
	}
	names := make([]string, 0, len(l.opts.Vars))
	for n := range l.opts.Vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := l.opts.Vars[name]
		v, ok := l.vars[name]
		if !ok {
			l.errorf(nil, "Value for undeclared variable",
				"--var %s=...: no variable %q is declared.%s", name, name, suggest(name, keys(l.vars)))
			continue
		}
		val, err := parseVarValue(raw, v.typ)
		if err != nil {
			l.errorf(v.rng.Ptr(), "Invalid value for variable", "--var %s=%q: %s.", name, raw, err)
			continue
		}
		v.value = val
		l.vars[name] = v
	}
	for _, name := range sortedKeys(l.vars) {
		if v := l.vars[name]; v.value == cty.NilVal {
			l.errorf(v.rng.Ptr(), "No value for required variable",
				"Variable %q has no default; set it with --var %s=VALUE.", name, name)
		}
	}
}

// parseVarValue converts a --var string: a string type takes it as is,
// other types parse it as an HCL expression (as terraform does).
func parseVarValue(raw string, ty cty.Type) (cty.Value, error) {
	if ty == cty.String || ty == cty.DynamicPseudoType {
		return cty.StringVal(raw), nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), "<var>", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("not a valid expression: %s", diags[0].Detail)
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s", diags[0].Detail)
	}
	return convert.Convert(val, ty)
}

// evalLocals evaluates every local once, in dependency order (a
// topological sort of their local.NAME references), each in a child of the
// one shared context holding only the locals it refers to: the cost grows
// with the number of locals and references, not with their square. A cycle
// is a diagnostic at the expression that closes it, naming the locals in
// it. A local whose own references are wrong, or that depends on a local
// that failed, is unknown (cty.DynamicVal) and reports nothing more.
func (l *loader) evalLocals(blocks []rawBlock) {
	attrs := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		if b.typ != "locals" {
			continue
		}
		as, diags := b.block.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for _, name := range sortedKeys(as) {
			a := as[name]
			if prev, dup := attrs[name]; dup {
				l.errorf(a.NameRange.Ptr(), "Duplicate local value",
					"local.%s is already defined at %s.", name, prev.NameRange.String())
				continue
			}
			attrs[name] = a
		}
	}
	l.localNames = make(map[string]bool, len(attrs))
	for name := range attrs {
		l.localNames[name] = true
	}
	l.ctx = l.baseContext()
	g := newLocalGraph(attrs)
	order, cyclic := g.sort()
	l.reportLocalCycles(g, cyclic)
	values := make([]cty.Value, len(g.names))
	failed := slices.Clone(cyclic)
	for n, i := range order {
		if n%cancelCheckEvery == 0 && l.stopped() {
			return
		}
		a := g.attrs[i]
		ok := l.checkTraversals(g.refs[i], false)
		for _, d := range g.deps[i] {
			ok = ok && !failed[d]
		}
		if ok {
			deps := make(map[string]cty.Value, len(g.deps[i]))
			for _, d := range g.deps[i] {
				deps[g.names[d]] = values[d]
			}
			ctx := l.ctx.NewChild()
			ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(deps)}
			val, diags := a.Expr.Value(ctx)
			l.diags = append(l.diags, diags...)
			if diags.HasErrors() {
				ok = false
			} else {
				values[i] = val
			}
		}
		if !ok {
			failed[i] = true
			values[i] = cty.DynamicVal
		}
	}
	all := make(map[string]cty.Value, len(g.names))
	for i, name := range g.names {
		if values[i] == cty.NilVal { // in or behind a cycle
			values[i] = cty.DynamicVal
		}
		all[name] = values[i]
	}
	l.ctx.Variables["local"] = cty.ObjectVal(all)
}

// localGraph is the locals (by index, names sorted) and, for each, the
// traversals in its expression and the distinct locals it refers to.
type localGraph struct {
	names []string
	attrs []*hcl.Attribute
	refs  [][]hcl.Traversal
	deps  [][]int
}

func newLocalGraph(attrs map[string]*hcl.Attribute) *localGraph {
	g := &localGraph{names: sortedKeys(attrs)}
	index := make(map[string]int, len(g.names))
	for i, name := range g.names {
		index[name] = i
	}
	g.attrs = make([]*hcl.Attribute, len(g.names))
	g.refs = make([][]hcl.Traversal, len(g.names))
	g.deps = make([][]int, len(g.names))
	added := make([]int, len(g.names)) // i+1 once local i's deps hold it: one local may name thousands
	for i, name := range g.names {
		g.attrs[i] = attrs[name]
		g.refs[i] = attrs[name].Expr.Variables()
		var deps []int
		for _, tr := range g.refs[i] {
			if tr.RootName() != "local" {
				continue
			}
			dep, has := attrName(tr)
			j, exists := index[dep]
			if !has || !exists || added[j] == i+1 {
				continue // a wrong reference is reported by checkRefs
			}
			added[j] = i + 1
			deps = append(deps, j)
		}
		g.deps[i] = deps
	}
	return g
}

// sort returns the locals in an order where each comes after the locals it
// refers to (Kahn's algorithm, iterative: a chain of 100,000 locals needs
// no deep recursion), and marks those left out: each is in a cycle or
// refers to one.
func (g *localGraph) sort() (order []int, cyclic []bool) {
	n := len(g.names)
	waiting := make([]int, n)      // references not yet evaluated
	dependents := make([][]int, n) // who refers to i
	for i, deps := range g.deps {
		waiting[i] = len(deps)
		for _, d := range deps {
			dependents[d] = append(dependents[d], i)
		}
	}
	order = make([]int, 0, n)
	for i := range n {
		if waiting[i] == 0 {
			order = append(order, i)
		}
	}
	for next := 0; next < len(order); next++ {
		for _, d := range dependents[order[next]] {
			if waiting[d]--; waiting[d] == 0 {
				order = append(order, d)
			}
		}
	}
	cyclic = make([]bool, n)
	for i := range n {
		cyclic[i] = waiting[i] > 0
	}
	return order, cyclic
}

// reportLocalCycles reports each cycle among the locals sort left out
// once. Each of those refers to at least one other left out, so walking
// from one (in name order) along such references must meet a local twice:
// one already on the walk closes a cycle, reported at its expression
// (local.a -> local.b -> local.a); one walked before leads to a cycle
// already reported.
func (l *loader) reportLocalCycles(g *localGraph, cyclic []bool) {
	state := make([]int8, len(g.names)) // 0 new, 1 on the walk, 2 done
	for start, left := range cyclic {
		if !left || state[start] != 0 {
			continue
		}
		walk := []int{start}
		state[start] = 1
		for {
			next := -1
			for _, d := range g.deps[walk[len(walk)-1]] {
				if cyclic[d] && state[d] != 2 {
					next = d
					break
				}
			}
			if next >= 0 && state[next] == 0 {
				state[next] = 1
				walk = append(walk, next)
				continue
			}
			if next >= 0 { // on the walk: a cycle
				names := []string{}
				for _, i := range walk[slices.Index(walk, next):] {
					names = append(names, g.names[i])
				}
				names = append(names, g.names[next])
				l.errorf(g.attrs[next].Expr.Range().Ptr(), "Cycle in local values",
					"These locals refer to each other: local.%s.", strings.Join(names, " -> local."))
			}
			for _, i := range walk {
				state[i] = 2
			}
			break
		}
	}
}

// baseContext holds functions, var, and one object per block kind whose
// attributes are reference values ({kind, name}).
func (l *loader) baseContext() *hcl.EvalContext {
	vars := map[string]cty.Value{}
	vv := map[string]cty.Value{}
	for n, v := range l.vars {
		if v.value != cty.NilVal {
			vv[n] = v.value
		} else {
			vv[n] = cty.DynamicVal
		}
	}
	vars["var"] = cty.ObjectVal(vv)
	for _, k := range refKinds {
		m := map[string]cty.Value{}
		for name := range l.decl[k] {
			m[name] = refValue(k, name)
		}
		vars[k] = cty.ObjectVal(m)
	}
	return &hcl.EvalContext{Variables: vars, Functions: functions(l.fsys)}
}

// refValue is the value a reference like image.rocky9 evaluates to.
func refValue(kind, name string) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"kind": cty.StringVal(kind), "name": cty.StringVal(name)})
}

// checkRefs reports every traversal in expr that names something
// undeclared, with a suggestion; it returns false if there was one.
func (l *loader) checkRefs(expr hcl.Expression, eachAllowed bool) bool {
	// for_each bodies evaluate the same expressions once per element:
	// check (and report) each expression once.
	if ok, done := l.refChecked[expr]; done {
		return ok
	}
	ok := l.checkTraversals(expr.Variables(), eachAllowed)
	if l.refChecked == nil {
		l.refChecked = map[hcl.Expression]bool{}
	}
	l.refChecked[expr] = ok
	return ok
}

// checkTraversals is checkRefs for the traversals of one expression.
func (l *loader) checkTraversals(traversals []hcl.Traversal, eachAllowed bool) bool {
	ok := true
	for _, tr := range traversals {
		root := tr.RootName()
		rng := tr.SourceRange()
		switch root {
		case "var":
			name, has := attrName(tr)
			if !has {
				continue
			}
			if _, exists := l.vars[name]; !exists {
				l.errorf(&rng, "Reference to undeclared input variable",
					"No variable named %q is declared.%s", name, suggest(name, keys(l.vars)))
				ok = false
			}
		case "local":
			name, has := attrName(tr)
			if !has {
				// As in terraform: locals are evaluated in the order of the
				// local.NAME references, so "local" alone or local["x"]
				// names no local.
				l.errorf(&rng, "Invalid reference to a local value",
					"A local value is referred to as local.NAME; \"local\" alone or with an index names none.")
				ok = false
				continue
			}
			if !l.localNames[name] {
				l.errorf(&rng, "Reference to undeclared local value",
					"No local value named %q is declared.%s", name, suggestWithPrefix("local.", name, boolKeys(l.localNames)))
				ok = false
			}
		case "each":
			if !eachAllowed {
				l.errorf(&rng, "Reference to \"each\" outside for_each",
					"each.key and each.value exist only inside a node block that has for_each.")
				ok = false
			}
		default:
			names, isKind := l.decl[root]
			if !isKind || root == "variable" {
				l.errorf(&rng, "Unknown reference", "There is no %q in this language; references start with one of var, local, each, %s.%s",
					root, strings.Join(refKinds, ", "), suggest(root, append([]string{"var", "local", "each"}, refKinds...)))
				ok = false
				continue
			}
			name, has := attrName(tr)
			if !has {
				continue
			}
			if _, exists := names[name]; !exists {
				l.errorf(&rng, fmt.Sprintf("Reference to undeclared %s", root),
					"No %s named %q is declared.%s", root, name, suggestWithPrefix(root+".", name, rangeKeys(names)))
				ok = false
			}
		}
	}
	return ok
}

func attrName(tr hcl.Traversal) (string, bool) {
	if len(tr) < 2 {
		return "", false
	}
	a, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return "", false
	}
	return a.Name, true
}

// suggest returns " Did you mean "x"?" for the closest candidate, if close.
func suggest(given string, candidates []string) string {
	return suggestWithPrefix("", given, candidates)
}

func suggestWithPrefix(prefix, given string, candidates []string) string {
	best, bestDist := "", 4
	candidates = append([]string(nil), candidates...) // never reorder the caller's slice
	sort.Strings(candidates)
	for _, c := range candidates {
		d := levenshtein.Distance(given, c, nil)
		if d < bestDist || (d <= 4 && strings.EqualFold(given, c)) {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > len(given)/2+1 && !strings.EqualFold(best, given) {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", prefix+best)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := keys(m)
	sort.Strings(out)
	return out
}

func boolKeys(m map[string]bool) []string { return keys(m) }

func rangeKeys(m map[string]hcl.Range) []string { return keys(m) }
