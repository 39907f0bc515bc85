package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseBatch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Batch
		err  string
	}{
		{in: "10%", want: Batch{Percent: 10}},
		{in: " 12.5% ", want: Batch{Percent: 12.5}},
		{in: "100%", want: Batch{Percent: 100}},
		{in: "1", want: Batch{N: 1}},
		{in: "25", want: Batch{N: 25}},
		{in: "0", err: "at least 1"},
		{in: "-3", err: "at least 1"},
		{in: "0%", err: "above 0%"},
		{in: "101%", err: "at most 100%"},
		{in: "ten", err: "number of nodes"},
		{in: "%", err: "percentage"},
		{in: "", err: "number of nodes"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBatch(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseBatch(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseBatch(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if again, err := ParseBatch(got.String()); err != nil || again != got {
				t.Fatalf("String() %q does not read back: %v, %v", got.String(), again, err)
			}
		})
	}
}

func TestBatchSize(t *testing.T) {
	for _, tc := range []struct {
		batch string
		total int
		want  int
	}{
		{"10%", 100, 10},
		{"10%", 30, 3},  // not 2 by a floating-point slip
		{"10%", 25, 2},  // rounds down
		{"10%", 19, 1},  // rounds down
		{"10%", 5, 1},   // at least 1
		{"10%", 1, 1},   // at least 1
		{"33%", 3, 1},   // 0.99 rounds down, then 1
		{"50%", 3, 1},   // 1.5 -> 1
		{"50%", 4, 2},   //
		{"12.5%", 8, 1}, // exactly 1
		{"12.5%", 16, 2},
		{"100%", 7, 7},
		{"1", 7, 1},
		{"3", 7, 3},
		{"10", 7, 7}, // at most the total
		{"10%", 0, 0},
		{"3", 0, 0},
	} {
		t.Run(fmt.Sprintf("%s_of_%d", tc.batch, tc.total), func(t *testing.T) {
			b, err := ParseBatch(tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Size(tc.total); got != tc.want {
				t.Fatalf("Batch %s .Size(%d) = %d, want %d", tc.batch, tc.total, got, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	nodes := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("n%02d", i+1)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		batch string
		nodes []string
		want  []int // batch sizes
	}{
		{"none", "10%", nil, nil},
		{"one by one", "1", nodes(3), []int{1, 1, 1}},
		{"uneven tail", "2", nodes(5), []int{2, 2, 1}},
		{"percent of 25", "10%", nodes(25), []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1}},
		{"all at once", "100%", nodes(4), []int{4}},
		{"larger than all", "9", nodes(4), []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBatch(tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			got := Plan(tc.nodes, b)
			var sizes []int
			var flat []string
			for _, g := range got {
				sizes = append(sizes, len(g))
				flat = append(flat, g...)
			}
			if !slices.Equal(sizes, tc.want) {
				t.Fatalf("Plan(%d nodes, %s) sizes %v, want %v", len(tc.nodes), tc.batch, sizes, tc.want)
			}
			if !slices.Equal(flat, tc.nodes) {
				t.Fatalf("Plan changed the nodes or their order: %v", flat)
			}
		})
	}
}

func TestHalts(t *testing.T) {
	for _, tc := range []struct {
		failed, max int
		want        bool
	}{
		{0, 0, false},
		{1, 0, true},
		{1, 1, false},
		{2, 1, true},
		{5, 10, false},
		{1, -1, true}, // a negative allowance is none
	} {
		if got := Halts(tc.failed, tc.max); got != tc.want {
			t.Errorf("Halts(%d failed, max %d) = %v, want %v", tc.failed, tc.max, got, tc.want)
		}
	}
}
