package hclspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"strconv"

	"github.com/zclconf/go-cty/cty"
)

// Resources is a node's structured data for templates (Warewulf's
// "resources"): `resources = { fstab = [ { spec = "head:/home", ... } ] }`
// on nodes and profiles. Its values are map[string]any (HCL objects and
// maps), []any (lists and tuples), string, int64 (whole numbers), float64
// (other numbers), bool and nil (null). A node's Resources are its
// profiles' merged with its own: objects key by key (recursively), every
// other value (lists too) replaced.
type Resources = map[string]any

// maxResourceDepth bounds how deeply resources nest.
const maxResourceDepth = 32

// decodeResources reads the resources attribute: it must be an object (or
// map); anything else is a diagnostic on the attribute.
func decodeResources(a *attrs, s *settings) {
	v, at, ok := a.value("resources", cty.DynamicPseudoType)
	if !ok {
		return
	}
	if ty := v.Type(); !ty.IsObjectType() && !ty.IsMapType() {
		a.valueErr(at, "Invalid resources", "resources of %s must be an object, like { fstab = [ ... ] }, not %s.", a.what, ty.FriendlyName())
		return
	}
	r, err := resourceValue(v, 0)
	if err != nil {
		a.valueErr(at, "Invalid resources", "resources of %s: %s.", a.what, err)
		return
	}
	s.resources = setting[Resources]{v: r.(map[string]any), rng: at.Expr.Range(), set: true}
}

// resourceValue converts a known cty value into a Resources value.
func resourceValue(v cty.Value, depth int) (any, error) {
	if depth > maxResourceDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxResourceDepth)
	}
	if v.IsNull() {
		return nil, nil
	}
	v, _ = v.Unmark()
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString(), nil
	case ty == cty.Bool:
		return v.True(), nil
	case ty == cty.Number:
		return resourceNumber(v.AsBigFloat()), nil
	case ty.IsObjectType() || ty.IsMapType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			x, err := resourceValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = x
		}
		return out, nil
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			x, err := resourceValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value of type %s cannot be a resource", ty.FriendlyName())
}

// resourceNumber is a whole number as int64 (when it fits), otherwise a
// float64.
func resourceNumber(f *big.Float) any {
	if f.IsInt() {
		if i, acc := f.Int64(); acc == big.Exact {
			return i
		}
	}
	x, _ := f.Float64()
	return x
}

// mergeResources returns base with over merged in: objects key by key
// (recursively), every other value replaced. Neither argument is modified.
func mergeResources(base, over map[string]any) map[string]any {
	if base == nil {
		return over
	}
	out := maps.Clone(base)
	for k, v := range over {
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = mergeResources(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

// ResourcesJSON is r encoded canonically (map keys sorted): the form the
// evaluation cache stores and input keys hash. nil and empty give "".
func ResourcesJSON(r Resources) string {
	if len(r) == 0 {
		return ""
	}
	b, err := json.Marshal(r)
	if err != nil {
		// Resources hold only JSON values (see resourceValue); a NaN
		// cannot come from HCL.
		panic(fmt.Sprintf("hclspec: encoding resources: %v", err))
	}
	return string(b)
}

// ParseResourcesJSON decodes ResourcesJSON's output, whole numbers as
// int64 as resourceValue gives them.
func ParseResourcesJSON(s string) (Resources, error) {
	if s == "" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return fixNumbers(v).(map[string]any), nil
}

func fixNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = fixNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = fixNumbers(e)
		}
	}
	return v
}
