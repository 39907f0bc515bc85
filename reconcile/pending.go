package reconcile

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gitboot/gitboot/internal/atomicfile"
)

// PendingPlanFile is the saved plan of the last commit planned but not
// applied (auto_apply = false), in the state directory: `gitboot apply
// STATE/pending-plan.json --server URL` applies exactly it.
const PendingPlanFile = "pending-plan.json"

// dropPending forgets the pending plan: the running state is what was
// planned, or the plan no longer applies.
func (r *Reconciler) dropPending() {
	r.pending = nil
	if err := os.Remove(filepath.Join(r.cfg.StateDir, PendingPlanFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.cfg.Logger.Warn("removing the pending plan failed", "err", err)
	}
}

func savePending(stateDir string, p *Plan) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(stateDir, PendingPlanFile), append(data, '\n'), 0o600)
}
