package rollout

import (
	"context"
	"fmt"

	"github.com/gitboot/gitboot/power"
)

// BMCs is the Power of a rollout through package power: the nodes' BMCs
// as power.Select returned them.
func BMCs(targets []power.Target, opts power.Options) Power {
	b := &bmcs{opts: opts, targets: make(map[string]power.Target, len(targets))}
	for _, t := range targets {
		b.targets[t.Node] = t
	}
	return b
}

type bmcs struct {
	opts    power.Options
	targets map[string]power.Target
}

func (b *bmcs) Status(ctx context.Context, nodes []string) []PowerResult {
	return b.run(ctx, nodes, power.Status)
}

func (b *bmcs) Cycle(ctx context.Context, nodes []string) []PowerResult {
	return b.run(ctx, nodes, power.Cycle)
}

func (b *bmcs) run(ctx context.Context, nodes []string, a power.Action) []PowerResult {
	ts := make([]power.Target, len(nodes))
	for i, n := range nodes {
		t, ok := b.targets[n]
		if !ok {
			t = power.Target{Node: n, Err: fmt.Errorf("node %s has no bmc block", n)}
		}
		ts[i] = t
	}
	out := make([]PowerResult, len(nodes))
	for i, r := range power.Run(ctx, ts, a, b.opts) {
		out[i] = PowerResult{Node: nodes[i], Power: r.Power, Err: r.Err}
	}
	return out
}
