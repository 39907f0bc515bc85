package serve

import (
	"context"

	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
)

// powerHandler answers POST /power from the applied inventory's nodes and
// the credentials file at path ("" none).
func powerHandler(rec *reconcile.Reconciler, path string) func(context.Context, []byte) (int, []byte) {
	return func(ctx context.Context, body []byte) (int, []byte) {
		inv := rec.RunningInventory()
		return power.Handle(ctx, inventoryNodes(inv), path, body)
	}
}

// inventoryNodes are the nodes of inv for power.SelectNodes; nil when
// nothing is applied.
func inventoryNodes(inv *reconcile.Inventory) []power.Node {
	if inv == nil {
		return nil
	}
	out := make([]power.Node, 0, len(inv.Nodes))
	for name, n := range inv.Nodes {
		out = append(out, power.Node{Name: name, BMC: n.BMC, Tags: n.Tags})
	}
	return out
}
