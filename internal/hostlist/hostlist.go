// Package hostlist expands Warewulf- and Slurm-style host ranges:
// "n[001-100]", "n[1-3,7],c[01-02]", "r[1-2]n[01-40]" (several bracket
// groups in one name multiply). The CLI commands that take node names
// (status, power, rollout, overlay render) call ExpandArgs; hclspec's
// hostlist() function calls Expand.
package hostlist

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxNames caps how many names one expression may expand to, so a typo such
// as "n[1-1000000000]" is an error instead of an hour of work.
const MaxNames = 100_000

// maxDigits bounds a number in a range (a name is rarely longer).
const maxDigits = 9

// part is one piece of a name pattern: literal text, or a bracket group's
// values already formatted.
type part struct {
	lit    string
	values []string // nil for a literal
}

// Expand returns the names expr stands for, in the order written: a
// comma-separated list of patterns, each literal text with any number of
// bracket groups "[a-b,c,...]". A range keeps the low bound's zero padding
// ("[08-10]" is 08 09 10). Duplicates are kept. It fails on bad syntax, an
// empty or reversed range, or more than MaxNames names.
func Expand(expr string) ([]string, error) {
	pats, err := splitTop(expr)
	if err != nil {
		return nil, fmt.Errorf("hostlist %q: %w", expr, err)
	}
	var out []string
	total := 0
	for _, p := range pats {
		parts, n, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("hostlist %q: %w", expr, err)
		}
		total += n
		if total > MaxNames {
			return nil, fmt.Errorf("hostlist %q: expands to more than %d names", expr, MaxNames)
		}
		out = appendProduct(out, parts)
	}
	return out, nil
}

// IsRange reports whether arg uses hostlist syntax: a bracket group holding
// only digits, ',' and '-'. Other brackets ("c0[ab]*") are left to the
// caller, for instance as a glob character class.
func IsRange(arg string) bool {
	for {
		i := strings.IndexByte(arg, '[')
		if i < 0 {
			return false
		}
		j := strings.IndexByte(arg[i:], ']')
		if j < 0 {
			return strings.Trim(arg[i+1:], "0123456789,-") == ""
		}
		inner := arg[i+1 : i+j]
		if inner != "" && strings.Trim(inner, "0123456789,-") == "" {
			return true
		}
		arg = arg[i+j+1:]
	}
}

// ExpandArgs expands each argument that IsRange, leaves the others (names,
// globs) as they are, and drops repeated names, keeping the first. The
// cap applies to the whole result.
func ExpandArgs(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, a := range args {
		names := []string{a}
		if IsRange(a) {
			var err error
			if names, err = Expand(a); err != nil {
				return nil, err
			}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
		if len(out) > MaxNames {
			return nil, fmt.Errorf("hostlist: the arguments expand to more than %d names", MaxNames)
		}
	}
	return out, nil
}

// splitTop splits expr at the commas outside brackets.
func splitTop(expr string) ([]string, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty")
	}
	var pats []string
	depth, start := 0, 0
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '[':
			if depth > 0 {
				return nil, fmt.Errorf("'[' inside a bracket group at offset %d: brackets do not nest; write several groups, \"r[1-2]n[01-40]\"", i)
			}
			depth++
		case ']':
			if depth == 0 {
				return nil, fmt.Errorf("']' without '[' at offset %d", i)
			}
			depth--
		case ',':
			if depth == 0 {
				pats = append(pats, expr[start:i])
				start = i + 1
			}
		}
	}
	if depth > 0 {
		return nil, errors.New("'[' without ']'")
	}
	pats = append(pats, expr[start:])
	for _, p := range pats {
		if strings.TrimSpace(p) == "" {
			return nil, errors.New("an empty name between commas")
		}
		if strings.ContainsAny(p, " \t\n") {
			return nil, fmt.Errorf("%q contains white space", p)
		}
	}
	return pats, nil
}

// parse splits one pattern into literals and bracket groups and returns
// how many names it expands to (capped at MaxNames+1).
func parse(p string) ([]part, int, error) {
	var parts []part
	n := 1
	for p != "" {
		i := strings.IndexByte(p, '[')
		if i < 0 {
			parts = append(parts, part{lit: p})
			break
		}
		if i > 0 {
			parts = append(parts, part{lit: p[:i]})
		}
		j := strings.IndexByte(p, ']') // splitTop checked the pairing
		vals, err := group(p[i+1 : j])
		if err != nil {
			return nil, 0, err
		}
		parts = append(parts, part{values: vals})
		n *= len(vals)
		if n > MaxNames {
			return nil, 0, fmt.Errorf("%q expands to more than %d names", p, MaxNames)
		}
		p = p[j+1:]
	}
	return parts, n, nil
}

// group expands the inside of one bracket group: "001-004,7".
func group(inner string) ([]string, error) {
	if inner == "" {
		return nil, errors.New("an empty bracket group \"[]\"")
	}
	var vals []string
	for _, item := range strings.Split(inner, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			hi = lo
		}
		a, err := number(lo, item)
		if err != nil {
			return nil, err
		}
		b, err := number(hi, item)
		if err != nil {
			return nil, err
		}
		if b < a {
			return nil, fmt.Errorf("range %q runs backwards", item)
		}
		if len(vals)+(b-a+1) > MaxNames {
			return nil, fmt.Errorf("range %q has more than %d numbers", item, MaxNames)
		}
		width := 0
		if len(lo) > 1 && lo[0] == '0' {
			width = len(lo)
		}
		for v := a; v <= b; v++ {
			vals = append(vals, fmt.Sprintf("%0*d", width, v))
		}
	}
	return vals, nil
}

func number(s, item string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q in a bracket group is not a number or a range a-b", item)
	}
	if len(s) > maxDigits {
		return 0, fmt.Errorf("%q has a number longer than %d digits", item, maxDigits)
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", item, err)
	}
	return v, nil
}

// appendProduct appends every name parts stands for, the last group
// varying fastest.
func appendProduct(out []string, parts []part) []string {
	names := []string{""}
	for _, pt := range parts {
		if pt.values == nil {
			for i := range names {
				names[i] += pt.lit
			}
			continue
		}
		next := make([]string, 0, len(names)*len(pt.values))
		for _, n := range names {
			for _, v := range pt.values {
				next = append(next, n+v)
			}
		}
		names = next
	}
	return append(out, names...)
}
