package reconcile

import (
	"path/filepath"

	"github.com/gitboot/gitboot/hclspec"
)

// EvalCacheFile is the evaluation cache in the state directory
// (hclspec.EvalCache): the resolved node blocks of the last commit
// evaluated, so the next commit evaluates only the node blocks it changed.
// Serve, plan and apply share it; deleting it costs one whole evaluation.
const EvalCacheFile = "eval-cache"

// cache returns the reconciler's evaluation cache, read from the state
// directory on first use (in memory only without one). It is called from
// desire, which runs with r.mu held, for each commit it evaluates (not
// for a plan's load it reuses).
func (r *Reconciler) cache() *hclspec.EvalCache {
	r.cacheLoads.Add(1)
	if r.evalCache == nil {
		if r.cfg.StateDir == "" {
			r.evalCache = hclspec.NewEvalCache()
		} else {
			r.evalCache = hclspec.OpenEvalCache(filepath.Join(r.cfg.StateDir, EvalCacheFile))
		}
	}
	return r.evalCache
}

// saveCache writes the evaluation cache back when the load changed it,
// and drops it from memory when its file holds all of it: the next
// commit reads it again (about 20 ms at 10,000 nodes), and serve does not
// keep every evaluated node between commits (15 MB of its live heap at
// 10,000 nodes). A cache with blocks its file lacks (fewer than
// hclspec's save threshold evaluated since it was written) stays.
func (r *Reconciler) saveCache() {
	if r.evalCache == nil {
		return // not used (the commit came loaded)
	}
	if err := r.evalCache.Save(); err != nil {
		r.cfg.Logger.Warn("keeping the evaluation cache failed; the next commit is evaluated whole", "err", err)
	}
	if r.evalCache.InFile() {
		r.evalCache = nil
	}
}
