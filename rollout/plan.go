package rollout

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultBatch is the batch size when none is given: a tenth of the nodes.
const DefaultBatch = "10%"

// Batch is a batch size: a number of nodes, or a percentage of the nodes
// rolled out.
type Batch struct {
	N       int     // nodes per batch, when Percent is 0
	Percent float64 // percentage of the nodes (0 < Percent <= 100)
}

// ParseBatch reads a batch size: "N" (a positive number of nodes) or "P%"
// (a percentage, 0 < P <= 100, decimals allowed).
func ParseBatch(s string) (Batch, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v <= 0 || v > 100 {
			return Batch{}, fmt.Errorf("batch %q: a percentage must be above 0%% and at most 100%%", s)
		}
		return Batch{Percent: v}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 {
		return Batch{}, fmt.Errorf("batch %q: want a number of nodes (at least 1) or a percentage such as 10%%", s)
	}
	return Batch{N: n}, nil
}

// String is the batch as ParseBatch reads it.
func (b Batch) String() string {
	if b.Percent > 0 {
		return strconv.FormatFloat(b.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(b.N)
}

// Size is the number of nodes per batch when total nodes are rolled out: a
// percentage rounds down (10% of 25 nodes is 2: never more nodes down at
// once than asked for), and a batch is at least 1 node and at most total.
func (b Batch) Size(total int) int {
	if total <= 0 {
		return 0
	}
	n := b.N
	if b.Percent > 0 {
		// The integer part of total*P/100, computed in hundredths of a
		// percent so 10% of 30 is 3, not 2.9999.
		n = int(int64(total) * int64(b.Percent*100+0.5) / 10000)
	}
	return max(1, min(n, total))
}

// Plan splits nodes, in the order given, into batches of b.Size(len(nodes))
// nodes; the last batch may be smaller. No nodes: no batches.
func Plan(nodes []string, b Batch) [][]string {
	size := b.Size(len(nodes))
	var out [][]string
	for i := 0; i < len(nodes); i += size {
		out = append(out, nodes[i:min(i+size, len(nodes))])
	}
	return out
}

// Halts reports whether a rollout stops after a batch: when more nodes have
// failed so far than maxFailures allows (0: the first failure halts it).
func Halts(failed, maxFailures int) bool { return failed > max(maxFailures, 0) }
