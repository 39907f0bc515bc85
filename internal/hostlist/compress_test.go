package hostlist

import (
	"fmt"
	"slices"
	"testing"
)

func TestCompress(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"empty", nil, ""},
		{"one", []string{"c001"}, "c001"},
		{"range", []string{"c003", "c001", "c002", "c005"}, "c[001-003,005]"},
		{"widths apart", []string{"n9", "n10", "n11", "n8"}, "n[8-9],n[10-11]"},
		{"literals and groups", []string{"head", "r1n01", "r1n02", "r2n01", "head"}, "r1n[01-02],r2n01,head"},
		{"duplicates", []string{"c1", "c1", "c2"}, "c[1-2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compress(tt.names); got != tt.want {
				t.Errorf("Compress(%q) = %q, want %q", tt.names, got, tt.want)
			}
		})
	}
}

// Expand(Compress(names)) is names, sorted, each once.
func TestCompressRoundTrip(t *testing.T) {
	var names []string
	for i := 1; i <= 10000; i++ {
		if i%7 != 0 {
			names = append(names, fmt.Sprintf("c%05d", i))
		}
	}
	names = append(names, "login", "r1n1", "r1n2", "gpu-a100-3")
	expr := Compress(names)
	if len(expr) > 20000 {
		t.Errorf("%d names compress to %d bytes", len(names), len(expr))
	}
	got, err := Expand(expr)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("round trip lost names: %d in, %d out", len(want), len(got))
	}
}
