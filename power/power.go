package power

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// Action is what Run does to each BMC.
type Action string

// The actions `gitboot power` takes.
const (
	On     Action = "on"     // power on (nothing when already on)
	Off    Action = "off"    // hard power off
	Cycle  Action = "cycle"  // off, then on (a node that is off is switched on)
	Reset  Action = "reset"  // hard reset (warm reboot) of a running node
	Status Action = "status" // only read the power state
)

// Actions lists every Action in the order help texts show them.
var Actions = []Action{On, Off, Cycle, Reset, Status}

// ParseAction returns the Action named s.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown power action %q: use on, off, cycle, reset or status", s)
}

// Power states a Result reports.
const (
	StateOn      = "on"
	StateOff     = "off"
	StateUnknown = "unknown"
)

// Cred is one credentials block of the credentials file.
type Cred struct {
	Username string
	Password string
}

// String never shows the password.
func (c Cred) String() string { return fmt.Sprintf("{%s ****}", c.Username) }

// Target is one node's BMC with the credentials it names.
type Target struct {
	Node string
	BMC  hclspec.BMC
	Cred Cred
}

// Options bound a Run.
type Options struct {
	Parallel int           // BMCs talked to at once; <= 0 means DefaultParallel
	Timeout  time.Duration // per BMC, for the whole action; <= 0 means DefaultTimeout
}

// Defaults for Options.
const (
	DefaultParallel = 32
	DefaultTimeout  = 30 * time.Second
)

// Result is what happened to one target: its power state after the
// action (StateOn, StateOff or StateUnknown) and the error, if any.
type Result struct {
	Node  string
	Power string
	Err   error
}

// ErrNotImplemented is returned by the parts that are not written yet.
var ErrNotImplemented = errors.New("power: not implemented yet")

// Run performs action on every target, at most opts.Parallel at once, each
// within opts.Timeout, and returns one Result per target in targets' order.
// It never fails as a whole: each target's error is in its Result.
func Run(ctx context.Context, targets []Target, action Action, opts Options) []Result {
	out := make([]Result, len(targets))
	for i, t := range targets {
		out[i] = Result{Node: t.Node, Power: StateUnknown, Err: ErrNotImplemented}
	}
	return out
}
