package reconcile

import (
	"time"

	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// incompleteCheckEvery is how often an idle pass still checks that the
// served build is complete (an artifact found damaged and removed is built
// again); the other idle passes read nothing but the ref and stat data.
const incompleteCheckEvery = 10 * time.Minute

// idleState is what the last evaluation that ended saw: the commit and a
// fingerprint (artifact.SourceFingerprint) of each image source it used.
// A recheck pass that finds the same commit and the same fingerprints ends
// at once: no load, no validation, no hashing, no log line, and no pending
// plan written again.
type idleState struct {
	commit  string
	images  map[string]string // image source -> fingerprint
	checked time.Time         // when the served build was last checked complete
}

// idle reports whether a pass for commit can end at once (see idleState).
// Any fingerprint that cannot be computed, or differs, means not idle.
func (r *Reconciler) idle(commit *gitsrc.Commit) bool {
	s := r.idleState
	if s == nil || s.commit != commit.Hash || r.dirty {
		return false
	}
	for src, fp := range s.images {
		if now, err := artifact.SourceFingerprint(src); err != nil || now != fp {
			return false
		}
	}
	if now := r.cfg.Now(); now.Sub(s.checked) >= incompleteCheckEvery {
		if r.incomplete() {
			return false
		}
		s.checked = now
	}
	return true
}

// knownSources returns the image sources the last evaluation (or the
// running state) used, with their fingerprints taken now: taken before an
// evaluation, so a source written while it runs is seen as changed by the
// next recheck rather than missed.
func (r *Reconciler) knownSources() map[string]string {
	var sources []string
	switch {
	case r.idleState != nil:
		for src := range r.idleState.images {
			sources = append(sources, src)
		}
	case r.running != nil:
		for _, is := range r.running.Images {
			sources = append(sources, is.Source)
		}
	}
	out := make(map[string]string, len(sources))
	for _, src := range sources {
		if fp, err := artifact.SourceFingerprint(src); err == nil {
			out[src] = fp
		}
	}
	return out
}

// settle records the idle state after a pass over commit whose desired
// state is desired ended (applied, unchanged or planned); before holds
// the fingerprints taken before the evaluation (knownSources). A source
// new to this evaluation is fingerprinted now.
func (r *Reconciler) settle(commit string, desired *Inventory, before map[string]string) {
	s := &idleState{commit: commit, images: make(map[string]string, len(desired.Images)), checked: r.cfg.Now()}
	for _, is := range desired.Images {
		fp, ok := before[is.Source]
		if !ok {
			var err error
			if fp, err = artifact.SourceFingerprint(is.Source); err != nil {
				r.idleState = nil
				return
			}
		}
		s.images[is.Source] = fp
	}
	r.idleState = s
}
