package hclspec

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// attrs evaluates the attributes of one decoded block body, keeping each
// value's range for later diagnostics.
type attrs struct {
	l       *loader
	content *hcl.BodyContent
	ctx     *hcl.EvalContext
	eachOK  bool
	what    string // "node \"c001\"", for diagnostics
}

func (a *attrs) get(name string) (*hcl.Attribute, bool) {
	at, ok := a.content.Attributes[name]
	return at, ok
}

// valueErr reports a problem with an attribute's value, with the
// expression and context so the snippet shows the value.
func (a *attrs) valueErr(at *hcl.Attribute, summary, format string, args ...any) {
	a.l.diags = append(a.l.diags, &hcl.Diagnostic{
		Severity:    hcl.DiagError,
		Summary:     summary,
		Detail:      fmt.Sprintf(format, args...),
		Subject:     at.Expr.Range().Ptr(),
		Expression:  at.Expr,
		EvalContext: a.ctx,
	})
}

// value evaluates attribute name converted to ty. ok is false when the
// attribute is absent, null, or wrong (then a diagnostic was added).
func (a *attrs) value(name string, ty cty.Type) (cty.Value, *hcl.Attribute, bool) {
	at, present := a.get(name)
	if !present {
		return cty.NilVal, nil, false
	}
	if !a.l.checkRefs(at.Expr, a.eachOK) {
		return cty.NilVal, at, false
	}
	v, diags := at.Expr.Value(a.ctx)
	if diags.HasErrors() {
		a.l.diags = append(a.l.diags, diags...)
		return cty.NilVal, at, false
	}
	if v.IsNull() {
		return cty.NilVal, at, false
	}
	if !v.IsWhollyKnown() {
		a.valueErr(at, "Unknown value", "The value of %s could not be determined.", name)
		return cty.NilVal, at, false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		a.valueErr(at, "Incorrect attribute value type", "%s of %s must be %s: %s.", name, a.what, ty.FriendlyNameForConstraint(), err)
		return cty.NilVal, at, false
	}
	return cv, at, true
}

func (a *attrs) str(name string) (string, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.String)
	if !ok {
		return "", at, false
	}
	return v.AsString(), at, true
}

func (a *attrs) boolean(name string) (bool, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.Bool)
	if !ok {
		return false, at, false
	}
	return v.True(), at, true
}

// port evaluates a TCP/UDP port number (1-65535).
func (a *attrs) port(name string) (int, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.Number)
	if !ok {
		return 0, at, false
	}
	bf := v.AsBigFloat()
	i, _ := bf.Int64()
	if !bf.IsInt() || i < 1 || i > 65535 {
		a.valueErr(at, "Port out of range", "%s must be a whole number from 1 to 65535, not %s.", name, bf.Text('f', -1))
		return 0, at, false
	}
	return int(i), at, true
}

func (a *attrs) strList(name string) ([]string, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.List(cty.String))
	if !ok {
		return nil, at, false
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			a.valueErr(at, "Null element", "%s must not contain null.", name)
			return nil, at, false
		}
		out = append(out, e.AsString())
	}
	return out, at, true
}

func (a *attrs) strMap(name string) (map[string]string, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.Map(cty.String))
	if !ok {
		return nil, at, false
	}
	out := make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			a.valueErr(at, "Null element", "%s[%q] must not be null.", name, k.AsString())
			return nil, at, false
		}
		out[k.AsString()] = e.AsString()
	}
	return out, at, true
}

// ref evaluates an attribute that must refer to a block of the given kind
// (`image = image.rocky9`) and returns the block's name.
func (a *attrs) ref(name, kind string) (string, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return "", at, false
	}
	n, ok := refName(v, kind)
	if !ok {
		a.valueErr(at, "Invalid reference", "%s must refer to a %s block, like %s.NAME.", name, kind, kind)
		return "", at, false
	}
	return n, at, true
}

func (a *attrs) refList(name, kind string) ([]string, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return nil, at, false
	}
	ty := v.Type()
	if !(ty.IsListType() || ty.IsTupleType() || ty.IsSetType()) {
		a.valueErr(at, "Invalid reference list", "%s must be a list of %s references, like [%s.NAME].", name, kind, kind)
		return nil, at, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		n, ok := refName(e, kind)
		if !ok {
			a.valueErr(at, "Invalid reference list", "%s must be a list of %s references, like [%s.NAME].", name, kind, kind)
			return nil, at, false
		}
		out = append(out, n)
	}
	return out, at, true
}

func refName(v cty.Value, kind string) (string, bool) {
	if v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute("kind") || !v.Type().HasAttribute("name") {
		return "", false
	}
	k, n := v.GetAttr("kind"), v.GetAttr("name")
	if k.Type() != cty.String || n.Type() != cty.String || k.IsNull() || n.IsNull() || k.AsString() != kind {
		return "", false
	}
	return n.AsString(), true
}

// schema builds a body schema of optional attributes (required ones are
// checked by the decoders so the message can say what the value is for).
func schema(names ...string) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	sort.Strings(names)
	for _, n := range names {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}
