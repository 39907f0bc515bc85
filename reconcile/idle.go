package reconcile

import (
	"time"

	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// incompleteCheckEvery is how often an idle pass still checks that the
// served build is complete (an artifact removed behind the server's back,
// by gitboot fsck, is built again); the other idle passes read nothing but
// the ref and stat data. An artifact the server itself found damaged and
// removed (Builder.Dropped) makes the next pass check at once.
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
	dropped uint64            // Builder.Dropped then
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
	dropped := r.dropped()
	if now := r.cfg.Now(); now.Sub(s.checked) >= incompleteCheckEvery || dropped != s.dropped {
		if r.incomplete() {
			return false
		}
		s.checked, s.dropped = now, dropped
	}
	return true
}

// dropped is the Builder's count of damaged artifacts removed (0 without
// a Builder).
func (r *Reconciler) dropped() uint64 {
	if r.cfg.Builder == nil {
		return 0
	}
	return r.cfg.Builder.Dropped()
}

// knownSources returns the image sources the last evaluation (or the
// running state) used, with their fingerprints taken now, and the count of
// damaged artifacts removed: taken before an evaluation, so a source
// written (or an artifact removed) while it runs is seen by the next
// recheck rather than missed.
func (r *Reconciler) knownSources() preState {
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
	out := preState{images: make(map[string]string, len(sources)), dropped: r.dropped()}
	for _, src := range sources {
		if fp, err := artifact.SourceFingerprint(src); err == nil {
			out.images[src] = fp
		}
	}
	return out
}

// preState is what a pass saw before its evaluation (knownSources).
type preState struct {
	images  map[string]string // image source -> fingerprint
	dropped uint64            // Builder.Dropped
}

// settle records the idle state after a pass over commit whose desired
// state is desired ended (applied, unchanged or planned); before holds
// the fingerprints taken before the evaluation (knownSources). A source
// new to this evaluation is fingerprinted now.
func (r *Reconciler) settle(commit string, desired *Inventory, before preState) {
	s := &idleState{commit: commit, images: make(map[string]string, len(desired.Images)), checked: r.cfg.Now(), dropped: before.dropped}
	for _, is := range desired.Images {
		fp, ok := before.images[is.Source]
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
