package status

import (
	"path"
	"time"
)

// Report is the JSON document of `GET /status` and `gitboot status --json`.
type Report struct {
	Server string    `json:"server,omitempty"`
	Commit string    `json:"commit,omitempty"`
	Now    time.Time `json:"now"` // the server's clock; ages count from it
	// IntervalSeconds is the runtime overlay pull interval: rows turn
	// yellow at interval+5 s since last seen, red at twice the interval.
	IntervalSeconds int64        `json:"interval_seconds"`
	Nodes           []NodeRecord `json:"nodes"`
	Unknown         []Unknown    `json:"unknown"`
	Errors          []Failure    `json:"errors"` // errors that belong to no node
	// LastRejected is the last commit refused since the last apply (nil:
	// none); the applied Commit stays served.
	LastRejected *Rejection `json:"last_rejected,omitempty"`
}

// MarkReboots sets NeedsReboot on every row: current returns a node's
// artifacts in the applied snapshot, false for a node not in it (which
// needs no reboot).
func (r *Report) MarkReboots(current func(name string) (BootDigests, bool)) {
	for i := range r.Nodes {
		n := &r.Nodes[i]
		cur, ok := current(n.Name)
		n.NeedsReboot = ok && n.BootedDigests.NeedsReboot(cur)
	}
}

// MarkBMC sets each row's BMC: bmc returns a node's ("" none).
func (r *Report) MarkBMC(bmc func(name string) string) {
	for i := range r.Nodes {
		r.Nodes[i].BMC = bmc(r.Nodes[i].Name)
	}
}

// Reboots counts the rows that need a reboot.
func (r *Report) Reboots() int {
	k := 0
	for i := range r.Nodes {
		if r.Nodes[i].NeedsReboot {
			k++
		}
	}
	return k
}

// Filter keeps the rows whose name matches one of the patterns (exact names
// or path.Match globs such as "c0*"); it returns the patterns that matched
// nothing. No patterns keep every row.
func (r *Report) Filter(patterns []string) (missing []string) {
	if len(patterns) == 0 {
		return nil
	}
	hit := make([]bool, len(patterns))
	kept := r.Nodes[:0]
	for _, row := range r.Nodes {
		keep := false
		for i, p := range patterns {
			if ok, err := path.Match(p, row.Name); p == row.Name || (err == nil && ok) {
				hit[i], keep = true, true
			}
		}
		if keep {
			kept = append(kept, row)
		}
	}
	r.Nodes = kept
	for i, p := range patterns {
		if !hit[i] {
			missing = append(missing, p)
		}
	}
	return missing
}
