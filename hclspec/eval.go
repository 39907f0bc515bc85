package hclspec

import (
	"fmt"
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
		if b.typ == "locals" || b.typ == "node" {
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

// evalLocals evaluates every local in dependency order; a cycle is a
// diagnostic naming the locals in it.
func (l *loader) evalLocals(blocks []rawBlock) {
	attrs := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		if b.typ != "locals" {
			continue
		}
		as, diags := b.block.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for name, a := range as {
			if prev, dup := attrs[name]; dup {
				l.errorf(a.NameRange.Ptr(), "Duplicate local value",
					"local.%s is already defined at %s.", name, prev.NameRange.String())
				continue
			}
			attrs[name] = a
		}
	}
	l.ctx = l.baseContext()
	locals := map[string]cty.Value{}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(name string, stack []string) bool
	visit = func(name string, stack []string) bool {
		a := attrs[name]
		switch state[name] {
		case 2:
			return true
		case 1:
			cycle := append(stack[indexOf(stack, name):], name)
			l.errorf(a.Expr.Range().Ptr(), "Cycle in local values",
				"These locals refer to each other: local.%s.", strings.Join(cycle, " -> local."))
			return false
		}
		state[name] = 1
		ok := true
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			dep, isAttr := tr[1].(hcl.TraverseAttr)
			if !isAttr {
				continue
			}
			if _, exists := attrs[dep.Name]; !exists {
				continue // reported by checkRefs
			}
			if !visit(dep.Name, append(stack, name)) {
				ok = false
				break
			}
		}
		if ok {
			if l.checkRefs(a.Expr, false) {
				ctx := l.ctx.NewChild()
				ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(locals)}
				val, diags := a.Expr.Value(ctx)
				l.diags = append(l.diags, diags...)
				if !diags.HasErrors() {
					locals[name] = val
				} else {
					ok = false
				}
			} else {
				ok = false
			}
		}
		state[name] = 2
		if !ok {
			locals[name] = cty.DynamicVal
		}
		return ok
	}
	l.localNames = map[string]bool{}
	for name := range attrs {
		l.localNames[name] = true
	}
	for _, name := range sortedKeys(attrs) {
		visit(name, nil)
	}
	l.ctx.Variables["local"] = cty.ObjectVal(locals)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return 0
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
	ok := l.checkRefsOnce(expr, eachAllowed)
	if l.refChecked == nil {
		l.refChecked = map[hcl.Expression]bool{}
	}
	l.refChecked[expr] = ok
	return ok
}

func (l *loader) checkRefsOnce(expr hcl.Expression, eachAllowed bool) bool {
	ok := true
	for _, tr := range expr.Variables() {
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
