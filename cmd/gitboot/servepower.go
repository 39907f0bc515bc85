package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
)

// checkBMCCredentials reads serve's --bmc-credentials at start, so that a
// broken file is said at once (it is read again on every POST /power).
func checkBMCCredentials(stderr io.Writer, path string) error {
	if path == "" {
		return nil
	}
	_, diags := power.LoadCredentials(path)
	if len(diags) > 0 {
		writeDiagnostics(stderr, credFiles(path), diags)
	}
	if diags.HasErrors() {
		return fmt.Errorf("--bmc-credentials %s: the file has errors", path)
	}
	return nil
}

// powerHandler answers POST /power from the applied inventory's nodes and
// the credentials file at path ("" none).
func powerHandler(rec *reconcile.Reconciler, path string) func(context.Context, []byte) (int, []byte) {
	return func(ctx context.Context, body []byte) (int, []byte) {
		inv, _ := rec.Running()
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
