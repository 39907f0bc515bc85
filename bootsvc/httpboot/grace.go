package httpboot

import (
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// DefaultGrace is how long a replaced snapshot's artifacts stay served by
// digest after Update, when Config.Grace is zero.
const DefaultGrace = 10 * time.Minute

// MaxRetired bounds how many replaced snapshots are kept for digest
// lookups at once; when more are replaced within the grace period, the
// oldest is dropped early.
const MaxRetired = 8

// retired is a snapshot replaced by Update, still served by digest until
// its grace period ends.
type retired struct {
	snap  *bootsvc.Snapshot
	until time.Time
}

// retiredList is the replaced snapshots still in their grace period,
// newest first. It is immutable once stored in Handler.retired.
type retiredList struct{ snaps []retired }

// Update makes snap the snapshot served from now on. Requests in flight
// finish with the one they started with. The snapshot it replaces stays
// available to digest URLs (/kernel/{mac}/{hex} ...) for Config.Grace, so a
// node that got its script from it still finds every file that script
// names.
func (h *Handler) Update(snap *bootsvc.Snapshot) {
	h.updateMu.Lock()
	defer h.updateMu.Unlock()
	old := h.snap.Load()
	now := h.cfg.Now()
	var keep []retired
	if old != nil && old != snap && h.cfg.Grace > 0 {
		keep = append(keep, retired{snap: old, until: now.Add(h.cfg.Grace)})
	}
	if l := h.retired.Load(); l != nil {
		for _, r := range l.snaps {
			if !now.Before(r.until) || r.snap == snap {
				continue
			}
			if len(keep) == MaxRetired {
				h.log.Warn("http: too many snapshots within their grace period; the oldest is no longer served by digest",
					"commit", r.snap.Commit, "max", MaxRetired)
				break
			}
			keep = append(keep, r)
		}
	}
	// Retire the old snapshot before the new one is visible, so that no
	// request sees neither.
	if len(keep) == 0 {
		h.retired.Store(nil)
	} else {
		h.retired.Store(&retiredList{snaps: keep})
	}
	h.snap.Store(snap)
}

// retiredArtifact looks for p's artifact with digest p.digest in the
// snapshots replaced less than Grace ago, newest first. It returns the
// snapshot and node it was found in. Expired entries met on the way are
// pruned.
func (h *Handler) retiredArtifact(p parsed) (*bootsvc.Snapshot, *bootsvc.Node, bootsvc.Artifact, status.Stage, bool) {
	l := h.retired.Load()
	if l == nil {
		return nil, nil, bootsvc.Artifact{}, "", false
	}
	now := h.cfg.Now()
	expired := false
	for i := range l.snaps {
		r := &l.snaps[i]
		if !now.Before(r.until) {
			expired = true
			continue
		}
		node, ok := r.snap.NodeByMAC(p.mac)
		if !ok {
			continue
		}
		if a, stage, ok := artifactFor(node, p); ok && hasDigest(&a, p.digest) {
			return r.snap, node, a, stage, true
		}
	}
	if expired {
		h.pruneRetired(l, now)
	}
	return nil, nil, bootsvc.Artifact{}, "", false
}

// pruneRetired drops the expired entries of l, unless Update or another
// pruning replaced l meanwhile.
func (h *Handler) pruneRetired(l *retiredList, now time.Time) {
	var keep []retired
	for _, r := range l.snaps {
		if now.Before(r.until) {
			keep = append(keep, r)
		}
	}
	var nl *retiredList
	if len(keep) > 0 {
		nl = &retiredList{snaps: keep}
	}
	h.retired.CompareAndSwap(l, nl)
}
