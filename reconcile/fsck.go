package reconcile

import (
	"context"
	"errors"

	"github.com/gitboot/gitboot/internal/statefile"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// Fsck checks a state directory (gitboot fsck): every artifact and
// manifest of its store (artifact.Fsck), and that the running inventory
// reads and names a manifest that is there. Nothing is changed.
func Fsck(ctx context.Context, stateDir string) (*artifact.FsckReport, error) {
	rep, err := artifact.Fsck(ctx, stateDir)
	if err != nil {
		return nil, err
	}
	inv, _, err := ReadInventory(stateDir)
	var ce *statefile.CorruptError
	switch {
	case errors.As(err, &ce):
		rep.Problems = append(rep.Problems, artifact.Problem{Path: InventoryFile, Kind: artifact.ProblemUnreadable, Detail: ce.Err.Error()})
	case err != nil:
		return nil, err
	case inv != nil && !artifact.HasManifest(stateDir, inv.Manifest):
		rep.Problems = append(rep.Problems, artifact.Problem{Path: InventoryFile, Kind: artifact.ProblemMissing,
			Detail: "its manifest " + inv.Manifest + " is not in the store"})
	}
	return rep, nil
}
