package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gitboot/gitboot/internal/clio"
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

// FsckCommand is `gitboot fsck`: Fsck of stateDir printed as a line per
// problem and a summary, or as JSON; exit status 1 when damage is found.
func FsckCommand(ctx context.Context, w io.Writer, stateDir string, asJSON bool) error {
	rep, err := Fsck(ctx, stateDir)
	if err != nil {
		return err
	}
	if asJSON {
		if err := clio.WriteJSON(w, rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "%-10s %s: %s\n", p.Kind, p.Path, p.Detail)
		}
		fmt.Fprintf(w, "gitboot fsck: %d artifacts (%d bytes) and %d manifests checked in %s: %d problem(s)\n",
			rep.Artifacts, rep.Bytes, rep.Manifests, filepath.Clean(stateDir), len(rep.Problems))
	}
	if len(rep.Problems) > 0 {
		return clio.Exit{Code: 1}
	}
	return nil
}
