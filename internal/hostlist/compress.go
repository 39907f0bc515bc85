package hostlist

import (
	"slices"
	"strconv"
	"strings"
)

// Compress writes names as one expression that Expand turns back into the
// same names (as a set; sorted, duplicates dropped): names that differ only
// in a trailing number of the same width share a bracket group of ranges,
// "c[0001-0100,0102],head". Names holding ',', '[' or ']' are written as
// they are, so they do not round-trip; node names never hold them.
func Compress(names []string) string {
	type group struct {
		prefix string
		width  int
		nums   []int
	}
	groups := map[string]*group{}
	var order []string
	var literals []string
	for _, n := range names {
		i := len(n)
		for i > 0 && n[i-1] >= '0' && n[i-1] <= '9' {
			i--
		}
		digits := n[i:]
		num, err := strconv.Atoi(digits)
		if digits == "" || len(digits) > maxDigits || err != nil || strings.ContainsAny(n[:i], ",[]") {
			literals = append(literals, n)
			continue
		}
		key := n[:i] + "\x00" + strconv.Itoa(len(digits))
		g := groups[key]
		if g == nil {
			g = &group{prefix: n[:i], width: len(digits)}
			groups[key] = g
			order = append(order, key)
		}
		g.nums = append(g.nums, num)
	}
	slices.Sort(order)
	var parts []string
	for _, key := range order {
		g := groups[key]
		slices.Sort(g.nums)
		g.nums = slices.Compact(g.nums)
		pad := func(v int) string {
			s := strconv.Itoa(v)
			return strings.Repeat("0", g.width-len(s)) + s
		}
		if len(g.nums) == 1 {
			parts = append(parts, g.prefix+pad(g.nums[0]))
			continue
		}
		var runs []string
		for i := 0; i < len(g.nums); {
			j := i
			for j+1 < len(g.nums) && g.nums[j+1] == g.nums[j]+1 {
				j++
			}
			if i == j {
				runs = append(runs, pad(g.nums[i]))
			} else {
				runs = append(runs, pad(g.nums[i])+"-"+pad(g.nums[j]))
			}
			i = j + 1
		}
		parts = append(parts, g.prefix+"["+strings.Join(runs, ",")+"]")
	}
	slices.Sort(literals)
	parts = append(parts, slices.Compact(literals)...)
	return strings.Join(parts, ",")
}
