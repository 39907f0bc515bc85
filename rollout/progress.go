package rollout

import (
	"slices"
	"time"
)

// States of a rollout (Progress.State).
const (
	StatePlanned    = "planned"    // a dry run: the batches, nothing done
	StateRunning    = "running"    // batches are being rebooted
	StateCompleted  = "completed"  // every batch ended within its failure allowance
	StateHalted     = "halted"     // a batch failed or timed out: the later batches were left alone
	StateSuperseded = "superseded" // a newer commit was applied: stopped before its next step
	StateCanceled   = "canceled"   // stopped (the server is stopping, or asked to)
)

// States of a node in a rollout (NodeProgress.State).
const (
	NodePending   = "pending"   // its batch has not started (or never will: halted)
	NodeRebooting = "rebooting" // power cycled, not back at the wait stage yet
	NodeDone      = "done"      // back at the wait stage, booted from the commit rolled out
	NodeFailed    = "failed"    // its BMC refused, or it did not come back in time
	NodeSkipped   = "skipped"   // powered off: it stays off
	NodeStopped   = "stopped"   // rebooting when the rollout was superseded or canceled
)

// States of a batch (BatchProgress.State).
const (
	BatchPending = "pending"
	BatchRunning = "running"
	BatchDone    = "done"   // every node done or skipped
	BatchFailed  = "failed" // a node failed
	BatchStopped = "stopped"
)

// Progress is what a rollout did so far: GET /rollout serves it as JSON
// and `gitboot rollout` draws it.
type Progress struct {
	ID          string          `json:"id"`
	Server      string          `json:"server,omitempty"`
	Commit      string          `json:"commit"`
	State       string          `json:"state"`
	Reason      string          `json:"reason,omitempty"` // why it halted, was superseded or canceled
	Batch       string          `json:"batch"`
	MaxFailures int             `json:"max_failures"`
	Wait        string          `json:"wait"`
	Timeout     string          `json:"timeout"`
	Started     time.Time       `json:"started"`
	Ended       time.Time       `json:"ended,omitzero"`
	Batches     []BatchProgress `json:"batches"`
	Nodes       []NodeProgress  `json:"nodes"` // in rollout order
	Done        int             `json:"done"`
	Failed      int             `json:"failed"`
	Skipped     int             `json:"skipped"`
}

// BatchProgress is one batch: its nodes and when it started (the power
// status was read), when its power cycles were sent and when it ended.
type BatchProgress struct {
	Nodes   []string  `json:"nodes"`
	State   string    `json:"state"`
	Started time.Time `json:"started,omitzero"`
	Cycled  time.Time `json:"cycled,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
}

// NodeProgress is one node of a rollout, with what the boot services last
// saw of it.
type NodeProgress struct {
	Name     string    `json:"name"`
	Batch    int       `json:"batch"` // index into Progress.Batches
	State    string    `json:"state"`
	Stage    string    `json:"stage,omitempty"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Booted   string    `json:"booted,omitempty"` // the commit it booted
	Reason   string    `json:"reason,omitempty"` // why it failed or was skipped
	Cycled   time.Time `json:"cycled,omitzero"`
	Done     time.Time `json:"done,omitzero"`
}

// Finished reports whether the rollout has ended (or was only planned).
func (p *Progress) Finished() bool { return p.State != StateRunning }

// Clone returns a deep copy.
func (p *Progress) Clone() *Progress {
	if p == nil {
		return nil
	}
	c := *p
	c.Batches = slices.Clone(p.Batches)
	for i := range c.Batches {
		c.Batches[i].Nodes = slices.Clone(c.Batches[i].Nodes)
	}
	c.Nodes = slices.Clone(p.Nodes)
	return &c
}

// count recomputes Done, Failed and Skipped.
func (p *Progress) count() {
	p.Done, p.Failed, p.Skipped = 0, 0, 0
	for _, n := range p.Nodes {
		switch n.State {
		case NodeDone:
			p.Done++
		case NodeFailed:
			p.Failed++
		case NodeSkipped:
			p.Skipped++
		}
	}
}

// Rebooting lists the nodes being rebooted now.
func (p *Progress) Rebooting() []string {
	var out []string
	for _, n := range p.Nodes {
		if n.State == NodeRebooting {
			out = append(out, n.Name)
		}
	}
	return out
}
