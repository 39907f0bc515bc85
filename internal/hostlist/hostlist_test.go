package hostlist

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"plain name", "c001", []string{"c001"}},
		{"padded range", "n[001-004]", []string{"n001", "n002", "n003", "n004"}},
		{"unpadded range crossing a digit", "n[8-11]", []string{"n8", "n9", "n10", "n11"}},
		{"padding from the low bound", "n[08-11]", []string{"n08", "n09", "n10", "n11"}},
		{"list and range", "n[1-3,7]", []string{"n1", "n2", "n3", "n7"}},
		{"two patterns", "n[1-2],c[01-02]", []string{"n1", "n2", "c01", "c02"}},
		{"suffix", "n[1-2]-ib", []string{"n1-ib", "n2-ib"}},
		{"two groups multiply", "r[1-2]n[01-02]", []string{"r1n01", "r1n02", "r2n01", "r2n02"}},
		{"three groups", "a[1-2]b[1]c[5-6]", []string{"a1b1c5", "a1b1c6", "a2b1c5", "a2b1c6"}},
		{"single number group", "n[007]", []string{"n007"}},
		{"duplicates kept", "n[1-2,2]", []string{"n1", "n2", "n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(tc.expr)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tc.expr, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Expand(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	for _, tc := range []struct {
		expr, want string
	}{
		{"", "empty"},
		{"n[1-3", "'[' without ']'"},
		{"n1-3]", "']' without '['"},
		{"n[1-[2-3]]", "brackets do not nest"},
		{"n[]", "empty bracket group"},
		{"n[3-1]", "runs backwards"},
		{"n[a-b]", "not a number"},
		{"n[1-]", "not a number"},
		{"n[1,,2]", "not a number"},
		{"n[1-2],,c1", "empty name between commas"},
		{"n[1-2], c1", "white space"},
		{"n[1234567890]", "longer than 9 digits"},
		{"n[1-100001]", fmt.Sprintf("more than %d", MaxNames)},
		{"a[1-1000]b[1-1000]", fmt.Sprintf("more than %d", MaxNames)},
		{"a[1-60000],b[1-60000]", fmt.Sprintf("more than %d names", MaxNames)},
	} {
		_, err := Expand(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Expand(%q) error = %v, want one containing %q", tc.expr, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.expr)) {
			t.Errorf("Expand(%q) error %q does not quote the expression", tc.expr, err)
		}
	}
}

func TestCapIsExact(t *testing.T) {
	got, err := Expand(fmt.Sprintf("n[1-%d]", MaxNames))
	if err != nil || len(got) != MaxNames {
		t.Fatalf("MaxNames names: %d, %v", len(got), err)
	}
	if _, err := Expand(fmt.Sprintf("n[1-%d],x", MaxNames)); err == nil {
		t.Fatal("MaxNames+1 names accepted")
	}
}

func TestIsRange(t *testing.T) {
	for arg, want := range map[string]bool{
		"n[1-2]": true, "n[001]": true, "c0*": false, "c0[ab]*": false, "n1": false,
		"n[1-3": true, "x[ab]n[1-2]": true, "n[]": false,
	} {
		if got := IsRange(arg); got != want {
			t.Errorf("IsRange(%q) = %v, want %v", arg, got, want)
		}
	}
}

func TestExpandArgs(t *testing.T) {
	got, err := ExpandArgs([]string{"n[1-3]", "c0*", "n2", "x[ab]"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"n1", "n2", "n3", "c0*", "x[ab]"}
	if !slices.Equal(got, want) {
		t.Fatalf("ExpandArgs = %q, want %q", got, want)
	}
	if _, err := ExpandArgs([]string{"n[3-1]"}); err == nil || !strings.Contains(err.Error(), "backwards") {
		t.Fatalf("a bad range passed as a name: %v", err)
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"n[001-004]", "n[1-3,7],c[01-02]", "r[1-2]n[01-40]", "n[", "]", "a[1-1000]b[1-1000]", "n[08-11]-ib"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := Expand(expr)
		if err != nil {
			return
		}
		if len(names) == 0 || len(names) > MaxNames {
			t.Fatalf("Expand(%q) gave %d names", expr, len(names))
		}
		for _, n := range names {
			if strings.ContainsAny(n, "[],") {
				t.Fatalf("Expand(%q) gave %q, still holding syntax", expr, n)
			}
		}
		if !strings.ContainsAny(expr, "[],") && (len(names) != 1 || names[0] != expr) {
			t.Fatalf("Expand(%q) of a plain name = %q", expr, names)
		}
	})
}
