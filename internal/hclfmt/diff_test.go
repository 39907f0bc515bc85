package hclfmt

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestUnified(t *testing.T) {
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"equal", "x\n", "x\n", ""},
		{"one line changed", "a=1\n", "a = 1\n", "--- old\n+++ new\n@@ -1 +1 @@\n-a=1\n+a = 1\n"},
		{"from empty", "", "a\nb\n", "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"to empty", "a\n", "", "--- old\n+++ new\n@@ -1 +0,0 @@\n-a\n"},
		{"no newline at end", "a\nb", "a\nb\n", "--- old\n+++ new\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"context", "1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nfive\n6\n7\n8\n",
			"--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{"two hunks", "a\n1\n2\n3\n4\n5\n6\n7\nb\n", "A\n1\n2\n3\n4\n5\n6\n7\nB\n",
			"--- old\n+++ new\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -6,4 +6,4 @@\n 5\n 6\n 7\n-b\n+B\n"},
		{"hunks merged", "a\n1\n2\n3\n4\n5\n6\nb\n", "A\n1\n2\n3\n4\n5\n6\nB\n",
			"--- old\n+++ new\n@@ -1,8 +1,8 @@\n-a\n+A\n 1\n 2\n 3\n 4\n 5\n 6\n-b\n+B\n"},
		{"insert in middle", "a\nc\n", "a\nb\nc\n", "--- old\n+++ new\n@@ -1,2 +1,3 @@\n a\n+b\n c\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Unified("old", "new", []byte(tc.a), []byte(tc.b)))
			if got != tc.want {
				t.Errorf("Unified(%q, %q):\n%s\nwant:\n%s", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

// TestUnifiedApplies checks on random line sequences that the diff, applied
// to a, gives b, and that it is minimal when the search is not cut short.
func TestUnifiedApplies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		a := randomText(rng, rng.IntN(30))
		b := mutate(rng, a)
		d := Unified("a", "b", []byte(a), []byte(b))
		got, err := applyUnified(a, string(d))
		if err != nil {
			t.Fatalf("case %d: %v\na=%q\nb=%q\ndiff:\n%s", i, err, a, b, d)
		}
		if got != b {
			t.Fatalf("case %d: patched a = %q, want %q\ndiff:\n%s", i, got, b, d)
		}
		if edits, lcs := countEdits(string(d)), lcsLen(splitLines([]byte(a)), splitLines([]byte(b))); edits != len(splitLines([]byte(a)))+len(splitLines([]byte(b)))-2*lcs {
			t.Fatalf("case %d: %d edits, shortest is %d\ndiff:\n%s", i, edits, len(splitLines([]byte(a)))+len(splitLines([]byte(b)))-2*lcs, d)
		}
	}
}

// TestUnifiedLarge covers the bounded search: more than maxEdits differing
// lines still give a correct diff.
func TestUnifiedLarge(t *testing.T) {
	var a, b strings.Builder
	for i := range 3 * maxEdits {
		fmt.Fprintf(&a, "line %d\n", i)
		if i%2 == 0 {
			fmt.Fprintf(&b, "line %d\n", i)
		} else {
			fmt.Fprintf(&b, "changed %d\n", i)
		}
	}
	d := Unified("a", "b", []byte(a.String()), []byte(b.String()))
	got, err := applyUnified(a.String(), string(d))
	if err != nil || got != b.String() {
		t.Fatalf("patching failed: %v", err)
	}
}

func randomText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "%c\n", 'a'+rng.IntN(4))
	}
	if n > 0 && rng.IntN(4) == 0 {
		return strings.TrimSuffix(b.String(), "\n")
	}
	return b.String()
}

func mutate(rng *rand.Rand, s string) string {
	lines := splitLines([]byte(s))
	for range rng.IntN(6) {
		switch i := rng.IntN(len(lines) + 1); rng.IntN(3) {
		case 0:
			lines = append(lines[:i], append([]string{fmt.Sprintf("%c\n", 'a'+rng.IntN(5))}, lines[i:]...)...)
		case 1:
			if i < len(lines) {
				lines = append(lines[:i], lines[i+1:]...)
			}
		default:
			if i < len(lines) {
				lines[i] = "x\n"
			}
		}
	}
	out := strings.Join(lines, "")
	if rng.IntN(4) == 0 {
		out = strings.TrimSuffix(out, "\n")
	}
	return out
}

// applyUnified applies a diff made by Unified to a, checking every context
// and deleted line against a.
func applyUnified(a, diff string) (string, error) {
	if diff == "" {
		return a, nil
	}
	src := splitLines([]byte(a))
	lines := splitLines([]byte(diff))
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		return "", fmt.Errorf("no header")
	}
	var out []string
	pos := 0 // next line of src to copy
	for i := 2; i < len(lines); {
		var oldStart int
		if _, err := fmt.Sscanf(lines[i], "@@ -%d", &oldStart); err != nil {
			return "", fmt.Errorf("bad hunk header %q", lines[i])
		}
		header := strings.Fields(lines[i])
		if strings.HasSuffix(header[1], ",0") {
			oldStart++ // an empty range names the line before it
		}
		for pos < oldStart-1 {
			out = append(out, src[pos])
			pos++
		}
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "@@"); i++ {
			l := lines[i][1:]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				l = strings.TrimSuffix(l, "\n")
			}
			switch lines[i][0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != l {
					return "", fmt.Errorf("line %d: have %q, diff says %q", pos+1, at(src, pos), l)
				}
				if lines[i][0] == ' ' {
					out = append(out, l)
				}
				pos++
			case '+':
				out = append(out, l)
			case '\\':
			default:
				return "", fmt.Errorf("bad diff line %q", lines[i])
			}
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), nil
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "EOF"
}

func countEdits(diff string) int {
	n := 0
	for i, l := range splitLines([]byte(diff)) {
		if i >= 2 && (l[0] == '+' || l[0] == '-') {
			n++
		}
	}
	return n
}

func lcsLen(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}
