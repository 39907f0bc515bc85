package hclspec

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"text/template"

	sprig "github.com/go-task/slim-sprig/v3"
)

// Bounds of the template functions that allocate by a count rather than
// by the size of their arguments (repeat, until, seq, indent...): a
// template must not allocate gigabytes in one call before the renderer's
// budget sees the result.
const (
	// MaxTemplateList is the most elements one call may produce.
	MaxTemplateList = 1 << 20
	// MaxTemplateString is the largest string one call may produce.
	MaxTemplateString = 16 << 20
)

// removedTemplateFuncs are sprig functions overlay templates do not get:
// an overlay is a function of the repository's commit, so nothing may
// read the server's environment, clock, network or randomness.
var removedTemplateFuncs = []string{
	// the environment
	"env", "expandenv",
	// the clock
	"now", "ago", "date", "date_in_zone", "dateInZone", "date_modify", "dateModify",
	"must_date_modify", "mustDateModify", "htmlDate", "htmlDateInZone", "toDate", "mustToDate",
	"unixEpoch", "duration", "durationRound",
	// randomness
	"randInt",
	// the network
	"getHostByName",
	// noise
	"hello",
}

// TemplateFuncs returns the functions overlay templates may call, beyond
// text/template's built-ins: sprig's (github.com/go-task/slim-sprig: string,
// list, dict, math, default, encoding, regexp, path functions) without
// removedTemplateFuncs, with guards on the functions that allocate by a
// count, and gitboot's own. reconcile/artifact renders with the same set
// (and binds a few more per render), so what validates also renders.
//
// This is the one place the function map is built: add a function here.
func TemplateFuncs() template.FuncMap {
	m := template.FuncMap(sprig.GenericFuncMap())
	for _, name := range removedTemplateFuncs {
		delete(m, name)
	}
	// gitboot's join (before sprig): `join .Node.KernelArgs " "`; sprig's
	// order (`.Node.KernelArgs | join " "`) works too.
	m["join"] = joinFunc
	m["upper"] = strings.ToUpper
	m["lower"] = strings.ToLower
	guardCounts(m)
	set := m["set"].(func(map[string]any, string, any) map[string]any)
	unset := m["unset"].(func(map[string]any, string) map[string]any)
	sortAlpha := m["sortAlpha"].(func(any) []string)
	// set and unset change a dict in place: only one the template made
	// (a mutableDict), never the data's (ResourceMap, shared by renders).
	m["set"] = func(d mutableDict, key string, v any) (map[string]any, error) {
		if reaches(reflect.ValueOf(v), reflect.ValueOf(d).UnsafePointer(), 0) {
			return nil, errors.New("set: the value holds the dict itself (a cycle)")
		}
		return set(d, key, v), nil
	}
	m["unset"] = func(d mutableDict, key string) map[string]any { return unset(d, key) }
	// sortAlpha sorts a []string in place: sort a copy (the data's lists
	// are shared).
	m["sortAlpha"] = func(list any) []string {
		if l, ok := list.([]string); ok {
			list = slices.Clone(l)
		}
		return sortAlpha(list)
	}
	m["dig"] = digFunc
	m["printf"] = printfFunc
	m["secret"] = secretUnbound // bound per render by reconcile/artifact (secrets.go)
	addSSHKeyFuncs(m)           // sshkeyfuncs.go
	return m
}

// mutableDict is a dict a template may change: a map[string]any made by
// dict (or fromJson...), not the data's ResourceMap.
type mutableDict map[string]any

// digFunc is sprig's dig (`dig "a" "b" DEFAULT DICT`) that also walks the
// data's ResourceMaps.
func digFunc(ps ...any) (any, error) {
	if len(ps) < 3 {
		return nil, errors.New("dig needs at least three arguments")
	}
	cur, def := ps[len(ps)-1], ps[len(ps)-2]
	for _, k := range ps[:len(ps)-2] {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("dig: key %v is not a string", k)
		}
		var m map[string]any
		switch d := cur.(type) {
		case map[string]any:
			m = d
		case ResourceMap:
			m = d
		default:
			return def, nil
		}
		if cur, ok = m[key]; !ok {
			return def, nil
		}
	}
	return cur, nil
}

// guardCounts replaces sprig's functions that allocate by a count with
// ones that refuse more than MaxTemplateList elements or
// MaxTemplateString bytes.
func guardCounts(m template.FuncMap) {
	until := m["until"].(func(int) []int)
	untilStep := m["untilStep"].(func(int, int, int) []int)
	seq := m["seq"].(func(...int) string)
	indent := m["indent"].(func(int, string) string)
	nindent := m["nindent"].(func(int, string) string)
	m["repeat"] = func(count int, s string) (string, error) {
		if err := checkStringSize("repeat", count, len(s)); err != nil {
			return "", err
		}
		return strings.Repeat(s, count), nil
	}
	m["until"] = func(count int) ([]int, error) {
		if err := checkCount("until", 0, count, 1); err != nil {
			return nil, err
		}
		return until(count), nil
	}
	m["untilStep"] = func(start, stop, step int) ([]int, error) {
		if err := checkCount("untilStep", start, stop, step); err != nil {
			return nil, err
		}
		return untilStep(start, stop, step), nil
	}
	m["seq"] = func(params ...int) (string, error) {
		var err error
		switch len(params) {
		case 1:
			err = checkCount("seq", 0, params[0], 1)
		case 2:
			err = checkCount("seq", params[0], params[1]+1, 1)
		case 3:
			err = checkCount("seq", params[0], params[2]+1, params[1])
		}
		if err != nil {
			return "", err
		}
		return seq(params...), nil
	}
	m["indent"] = func(spaces int, s string) (string, error) {
		if err := checkStringSize("indent", spaces, strings.Count(s, "\n")+1); err != nil {
			return "", err
		}
		return indent(spaces, s), nil
	}
	m["nindent"] = func(spaces int, s string) (string, error) {
		if err := checkStringSize("nindent", spaces, strings.Count(s, "\n")+1); err != nil {
			return "", err
		}
		return nindent(spaces, s), nil
	}
}

// joinFunc joins a list with a separator, in either order: gitboot's
// (`join LIST SEP`) or sprig's (`join SEP LIST`, `LIST | join SEP`).
func joinFunc(a, b any) string {
	if sep, ok := b.(string); ok {
		if _, isStr := a.(string); !isStr {
			return strings.Join(toStrings(a), sep)
		}
	}
	sep, _ := a.(string)
	return strings.Join(toStrings(b), sep)
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case []string:
		return v
	case string:
		return []string{v}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return []string{fmt.Sprint(v)}
	}
	out := make([]string, 0, rv.Len())
	for i := range rv.Len() {
		e := rv.Index(i).Interface()
		if e == nil {
			continue
		}
		if s, ok := e.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, fmt.Sprint(e))
		}
	}
	return out
}

func checkStringSize(fn string, count, unit int) error {
	if count < 0 {
		return fmt.Errorf("%s: negative count %d", fn, count)
	}
	if unit > 0 && count > MaxTemplateString/unit {
		return fmt.Errorf("%s: %d × %d bytes is more than the %d MiB a template function may produce", fn, count, unit, MaxTemplateString>>20)
	}
	return nil
}

// checkCount refuses a range from start to stop (excluded) by step of
// more than MaxTemplateList elements (in floating point: the difference
// of two ints may overflow one).
func checkCount(fn string, start, stop, step int) error {
	if step == 0 {
		return nil // sprig gives an empty list
	}
	n := math.Ceil(math.Abs(float64(stop)-float64(start)) / math.Abs(float64(step)))
	if n > MaxTemplateList {
		return fmt.Errorf("%s: %.0f elements is more than the %d a template function may produce", fn, n, MaxTemplateList)
	}
	return nil
}

// reaches reports whether v holds (at any depth) the map at p.
func reaches(v reflect.Value, p any, depth int) bool {
	if depth > 100 {
		return true // deeper than any real data: refuse
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return false
		}
		return reaches(v.Elem(), p, depth+1)
	case reflect.Map:
		if v.UnsafePointer() == p {
			return true
		}
		for it := v.MapRange(); it.Next(); {
			if reaches(it.Value(), p, depth+1) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if reaches(v.Index(i), p, depth+1) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if reaches(v.Field(i), p, depth+1) {
				return true
			}
		}
	}
	return false
}

// printfFunc is fmt.Sprintf without '*' widths and with the widths and
// precisions of its verbs bounded (each pads up to a million bytes in
// fmt: a format of many would allocate gigabytes at once).
func printfFunc(format string, args ...any) (string, error) {
	total := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		n := 0
		for i++; i < len(format); i++ {
			ch := format[i]
			switch {
			case ch == '*':
				return "", errors.New("printf: '*' widths are not allowed in overlay templates")
			case ch >= '0' && ch <= '9':
				n = n*10 + int(ch-'0')
				if n > MaxTemplateString {
					return "", fmt.Errorf("printf: a width of more than %d", MaxTemplateString)
				}
				continue
			case ch == '.' || ch == '+' || ch == '-' || ch == '#' || ch == ' ' || ch == '[' || ch == ']':
				total += n
				n = 0
				continue
			}
			break
		}
		total += n
		if total > MaxTemplateString {
			return "", fmt.Errorf("printf: widths of more than %d MiB in all", MaxTemplateString>>20)
		}
	}
	return fmt.Sprintf(format, args...), nil
}
