package hclfmt

import (
	"bytes"
	"fmt"
)

// maxEdits bounds the line diff's search: beyond this many inserted plus
// deleted lines, Unified stops looking for the shortest edit and shows the
// rest of the differing region as one replacement. The diff stays correct,
// only longer, and memory stays bounded (about maxEdits² ints).
const maxEdits = 1000

// contextLines is how many unchanged lines surround each hunk, as in diff -u.
const contextLines = 3

type opKind byte

const (
	opEqual  opKind = ' '
	opDelete opKind = '-'
	opInsert opKind = '+'
)

// op is one line of an edit script: a line of a (delete), of b (insert) or
// of both (equal).
type op struct {
	kind opKind
	line string // with its line terminator, if it had one
}

// Unified returns a unified diff (diff -u) turning a into b, labelled
// oldName and newName, or nil when a and b are equal.
func Unified(oldName, newName string, a, b []byte) []byte {
	if bytes.Equal(a, b) {
		return nil
	}
	ops := lineDiff(splitLines(a), splitLines(b))
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "--- %s\n+++ %s\n", oldName, newName)
	writeHunks(&buf, ops)
	return buf.Bytes()
}

// splitLines splits s after each '\n'; the last line may lack one.
func splitLines(s []byte) []string {
	var lines []string
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, string(s))
			break
		}
		lines = append(lines, string(s[:i+1]))
		s = s[i+1:]
	}
	return lines
}

// lineDiff returns an edit script from a to b: the common prefix and
// suffix as equal lines, and the middle by Myers' shortest edit search.
func lineDiff(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []op
	for _, l := range a[:pre] {
		ops = append(ops, op{opEqual, l})
	}
	ops = append(ops, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, op{opEqual, l})
	}
	return ops
}

// myers finds a shortest edit script from a to b (E. Myers, "An O(ND)
// difference algorithm", 1986), giving up after maxEdits edits.
func myers(a, b []string) []op {
	n, m := len(a), len(b)
	limit := min(n+m, maxEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int // trace[d][k+d] is v[k] before round d
	for d := 0; d <= limit; d++ {
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(a, b, trace, d)
			}
		}
	}
	return replaceAll(a, b)
}

// backtrack walks the trace from (len(a), len(b)) back to (0, 0) and returns
// the edit script in order.
func backtrack(a, b []string, trace [][]int, dmax int) []op {
	x, y := len(a), len(b)
	var rev []op
	for d := dmax; d > 0; d-- {
		v := trace[d]
		at := func(k int) int { return v[k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, op{opEqual, a[x]})
		}
		if x == px {
			y--
			rev = append(rev, op{opInsert, b[y]})
		} else {
			x--
			rev = append(rev, op{opDelete, a[x]})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, op{opEqual, a[x]})
	}
	ops := make([]op, len(rev))
	for i, o := range rev {
		ops[len(rev)-1-i] = o
	}
	return ops
}

// replaceAll is the edit script that deletes all of a and inserts all of b.
func replaceAll(a, b []string) []op {
	ops := make([]op, 0, len(a)+len(b))
	for _, l := range a {
		ops = append(ops, op{opDelete, l})
	}
	for _, l := range b {
		ops = append(ops, op{opInsert, l})
	}
	return ops
}

// writeHunks prints the changed regions of ops with contextLines of context,
// merging hunks whose contexts touch.
func writeHunks(buf *bytes.Buffer, ops []op) {
	// Line numbers (0-based) in a and b before each op.
	ai := make([]int, len(ops)+1)
	bi := make([]int, len(ops)+1)
	for i, o := range ops {
		ai[i+1], bi[i+1] = ai[i], bi[i]
		if o.kind != opInsert {
			ai[i+1]++
		}
		if o.kind != opDelete {
			bi[i+1]++
		}
	}
	for i := 0; i < len(ops); {
		if ops[i].kind == opEqual {
			i++
			continue
		}
		start := max(0, i-contextLines)
		end := i // one past the last change in the hunk
		for j := i; j < len(ops) && j < end+2*contextLines+1; j++ {
			if ops[j].kind != opEqual {
				end = j + 1
			}
		}
		stop := min(len(ops), end+contextLines)
		fmt.Fprintf(buf, "@@ -%s +%s @@\n", hunkRange(ai[start], ai[stop]-ai[start]), hunkRange(bi[start], bi[stop]-bi[start]))
		for _, o := range ops[start:stop] {
			buf.WriteByte(byte(o.kind))
			buf.WriteString(o.line)
			if len(o.line) == 0 || o.line[len(o.line)-1] != '\n' {
				buf.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = stop
	}
}

// hunkRange formats a hunk's start and length the way diff -u does: lines
// count from 1, a length of 1 is omitted, and an empty range names the line
// before it.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
