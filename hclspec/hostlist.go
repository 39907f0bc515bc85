package hclspec

import (
	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// hostlistFunc is hostlist("n[001-004]"): the names a Warewulf-style host
// range stands for, as a list of strings (see internal/hostlist), so
// `for_each = toset(hostlist("n[001-040]"))` declares forty nodes.
var hostlistFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "expr", Type: cty.String}},
	Type:   function.StaticReturnType(cty.List(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		names, err := hostlist.Expand(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgError(0, err)
		}
		vals := make([]cty.Value, len(names))
		for i, n := range names {
			vals[i] = cty.StringVal(n)
		}
		return cty.ListVal(vals), nil
	},
})
