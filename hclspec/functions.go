package hclspec

import (
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/apparentlymart/go-cidr/cidr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// MaxReadFile bounds what file() reads.
const MaxReadFile = 16 << 20

// functions returns the function table: the cty standard library functions
// terraform users expect, file functions confined to fsys, and the CIDR
// helpers.
func functions(fsys fs.FS) map[string]function.Function {
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"upper": stdlib.UpperFunc, "regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc,
		"replace": stdlib.ReplaceFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc,
		"trimspace": stdlib.TrimSpaceFunc, "startswith": startsWithFunc, "endswith": endsWithFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc,
		"coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc,
		"element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc, "index": stdlib.IndexFunc,
		"keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc,
		"merge": stdlib.MergeFunc, "range": stdlib.RangeFunc, "reverse": stdlib.ReverseListFunc,
		"setproduct": stdlib.SetProductFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		"tostring":   makeToFunc(cty.String), "tonumber": makeToFunc(cty.Number),
		"tobool": makeToFunc(cty.Bool), "tolist": makeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": makeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": makeToFunc(cty.Map(cty.DynamicPseudoType)),
		"file": fileFunc(fsys), "fileexists": fileExistsFunc(fsys),
		"cidrhost": cidrHostFunc, "cidrsubnet": cidrSubnetFunc, "cidrnetmask": cidrNetmaskFunc,
		"hostlist": hostlistFunc,
	}
}

func makeToFunc(ty cty.Type) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowDynamicType: true}},
		Type: func(args []cty.Value) (cty.Type, error) {
			got := args[0].Type()
			if got.Equals(ty) || ty == cty.DynamicPseudoType {
				return got, nil
			}
			if ty.IsCollectionType() && ty.ElementType() == cty.DynamicPseudoType {
				return convertCollectionType(got, ty)
			}
			if convert.GetConversionUnsafe(got, ty) == nil {
				return cty.NilType, function.NewArgErrorf(0, "cannot convert %s to %s", got.FriendlyName(), ty.FriendlyNameForConstraint())
			}
			return ty, nil
		},
		Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
			v, err := convert.Convert(args[0], retType)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "cannot convert %s to %s: %s", args[0].Type().FriendlyName(), retType.FriendlyName(), err)
			}
			return v, nil
		},
	})
}

func convertCollectionType(got, want cty.Type) (cty.Type, error) {
	v, err := convert.Convert(cty.UnknownVal(got), want)
	if err != nil {
		return cty.NilType, function.NewArgErrorf(0, "cannot convert %s to %s", got.FriendlyName(), want.FriendlyNameForConstraint())
	}
	return v.Type(), nil
}

var startsWithFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.BoolVal(strings.HasPrefix(args[0].AsString(), args[1].AsString())), nil
	},
})

var endsWithFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "suffix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.BoolVal(strings.HasSuffix(args[0].AsString(), args[1].AsString())), nil
	},
})

// repoPath checks that p names a file inside the repository and returns
// its fs.FS path.
func repoPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("the path is empty")
	}
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':') {
		return "", fmt.Errorf("%q is an absolute path; file paths are relative to the repository root and must stay inside it", p)
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%q leaves the repository; file paths must stay inside it", p)
	}
	if !fs.ValidPath(clean) {
		return "", fmt.Errorf("%q is not a valid path inside the repository", p)
	}
	return clean, nil
}

func fileFunc(fsys fs.FS) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p, err := repoPath(args[0].AsString())
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			src, err := readLimited(fsys, p, MaxReadFile)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "reading %s: %s", p, trimFSError(err))
			}
			if !utf8.Valid(src) {
				return cty.NilVal, function.NewArgErrorf(0, "%s is not valid UTF-8 text", p)
			}
			return cty.StringVal(string(src)), nil
		},
	})
}

func fileExistsFunc(fsys fs.FS) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p, err := repoPath(args[0].AsString())
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			st, err := fs.Stat(fsys, p)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return cty.False, nil
				}
				return cty.NilVal, function.NewArgErrorf(0, "checking %s: %s", p, trimFSError(err))
			}
			return cty.BoolVal(st.Mode().IsRegular()), nil
		},
	})
}

func trimFSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		_, network, err := net.ParseCIDR(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "invalid CIDR %q", args[0].AsString())
		}
		num := args[1].AsBigFloat()
		n, acc := num.Int(nil)
		if acc != big.Exact {
			return cty.NilVal, function.NewArgErrorf(1, "host number must be a whole number")
		}
		ip, err := cidr.HostBig(network, n)
		if err != nil {
			return cty.NilVal, function.NewArgError(1, err)
		}
		return cty.StringVal(ip.String()), nil
	},
})

var cidrSubnetFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "newbits", Type: cty.Number}, {Name: "netnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		_, network, err := net.ParseCIDR(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "invalid CIDR %q", args[0].AsString())
		}
		var newbits int
		if err := gocty(args[1], &newbits); err != nil {
			return cty.NilVal, function.NewArgError(1, err)
		}
		netnum, acc := args[2].AsBigFloat().Int(nil)
		if acc != big.Exact {
			return cty.NilVal, function.NewArgErrorf(2, "network number must be a whole number")
		}
		ones, bits := network.Mask.Size()
		if newbits < 0 || ones+newbits > bits {
			return cty.NilVal, function.NewArgErrorf(1, "%d new bits would extend the prefix /%d past %d bits", newbits, ones, bits)
		}
		sub, err := cidr.SubnetBig(network, newbits, netnum)
		if err != nil {
			return cty.NilVal, function.NewArgError(2, err)
		}
		return cty.StringVal(sub.String()), nil
	},
})

var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		_, network, err := net.ParseCIDR(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "invalid CIDR %q", args[0].AsString())
		}
		if network.IP.To4() == nil {
			return cty.NilVal, function.NewArgErrorf(0, "cidrnetmask works on IPv4 prefixes only")
		}
		return cty.StringVal(net.IP(network.Mask).String()), nil
	},
})

func gocty(v cty.Value, out *int) error {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return errors.New("must be a whole number")
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i > 1<<20 || i < -(1<<20) {
		return errors.New("number out of range")
	}
	*out = int(i)
	return nil
}
