package webui

import (
	"strings"
	"time"
)

// Rollout is what the page shows of the current or last rollout: the
// daemon turns a rollout's progress into it (webui imports no rollout or
// reconcile code).
type Rollout struct {
	ID        string
	Commit    string
	State     string // running, completed, halted, superseded, canceled
	Reason    string
	Batch     int // the batch running or last run, 1-based; 0 none yet
	Batches   int
	Rebooting []string
	Done      []string
	Failed    []string // "name: why"
	Skipped   []string
	Pending   int
	Started   time.Time
	Ended     time.Time
}

// SetRollout shows r in the page's header (nil: no rollout line).
func (u *UI) SetRollout(r *Rollout) {
	u.mu.Lock()
	if r != nil {
		c := *r
		u.rollout = &c
	} else {
		u.rollout = nil
	}
	u.header = true
	u.mu.Unlock()
	u.wake()
}

// rolloutView is the header's rollout line.
type rolloutView struct {
	Rollout
	Short     string
	Running   bool
	Bad       bool
	Rebooting string
	Done      string
	Failed    string
	Skipped   string
}

func rolloutOf(r *Rollout) *rolloutView {
	if r == nil {
		return nil
	}
	v := &rolloutView{Rollout: *r, Running: r.State == "running", Bad: r.State == "halted",
		Rebooting: strings.Join(r.Rebooting, ", "), Done: strings.Join(r.Done, ", "),
		Failed: strings.Join(r.Failed, "; "), Skipped: strings.Join(r.Skipped, ", ")}
	v.Short = r.Commit
	if len(v.Short) > 12 {
		v.Short = v.Short[:12]
	}
	return v
}
