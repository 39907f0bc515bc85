package power

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// Action is what Run does to each BMC.
type Action string

// The actions `gitboot power` takes.
const (
	On     Action = "on"     // power on (nothing when already on)
	Off    Action = "off"    // hard power off (nothing when already off)
	Cycle  Action = "cycle"  // off, then on; a node that is off is switched on
	Reset  Action = "reset"  // hard reset of a running node; a node that is off is an error
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

// GoString never shows the password either (%#v).
func (c Cred) GoString() string { return c.String() }

// Target is one node's BMC with the credentials it names. A Target whose
// Err is set is not contacted: Run reports Err as its result (a node whose
// credentials are missing, for example).
type Target struct {
	Node string
	BMC  hclspec.BMC
	Cred Cred
	Err  error
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

// Failed counts the results with an error.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if r.Err != nil {
			n++
		}
	}
	return n
}

// Run performs action on every target, at most opts.Parallel at once, each
// within opts.Timeout, and returns one Result per target in targets' order.
// It never fails as a whole: each target's error is in its Result.
func Run(ctx context.Context, targets []Target, action Action, opts Options) []Result {
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	out := make([]Result, len(targets))
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		if t.Err != nil {
			out[i] = Result{Node: t.Node, Power: StateUnknown, Err: t.Err}
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i] = Result{Node: t.Node, Power: StateUnknown, Err: ctx.Err()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			out[i] = runOne(tctx, t, action)
		}()
	}
	wg.Wait()
	return out
}

// runOne performs action on one BMC and reads its power state afterwards.
func runOne(ctx context.Context, t Target, action Action) Result {
	res := Result{Node: t.Node, Power: StateUnknown}
	fail := func(err error) Result {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("%w (no answer within the timeout)", err)
		}
		res.Err = fmt.Errorf("%s %s: %w", t.BMC.Driver, t.BMC.HostPort(), err)
		return res
	}
	c, err := dial(ctx, t)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	on, err := c.State(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading the power state: %w", err))
	}
	res.Power = state(on)
	var step func(context.Context) error
	switch action {
	case Status:
		return res
	case On:
		if on {
			return res
		}
		step = c.On
	case Off:
		if !on {
			return res
		}
		step = c.Off
	case Cycle:
		step = c.Cycle
		if !on {
			step = c.On
		}
	case Reset:
		if !on {
			return fail(errors.New("reset: the node is off (use on or cycle)"))
		}
		step = c.Reset
	default:
		return fail(fmt.Errorf("unknown action %q", action))
	}
	if err := step(ctx); err != nil {
		return fail(fmt.Errorf("power %s: %w", action, err))
	}
	want := action != Off
	on, err = settle(ctx, c, want)
	if err != nil {
		res.Power = StateUnknown
		return fail(fmt.Errorf("power %s done, then reading the power state: %w", action, err))
	}
	res.Power = state(on)
	if on != want {
		return fail(fmt.Errorf("power %s accepted, but the node still reads %s after %s", action, state(on), settleTime))
	}
	return res
}

// settleTime is how long a BMC may take to report the power state an
// action asked for (a chassis powering down takes a moment).
const settleTime = 10 * time.Second

// settle reads the power state until it is want, for at most settleTime
// (or until ctx ends), and returns the last state read.
func settle(ctx context.Context, c conn, want bool) (bool, error) {
	deadline := time.Now().Add(settleTime)
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		on, err := c.State(ctx)
		if err != nil || on == want || time.Now().Add(delay).After(deadline) {
			return on, err
		}
		select {
		case <-ctx.Done():
			return on, nil
		case <-time.After(delay):
		}
	}
}

func state(on bool) string {
	if on {
		return StateOn
	}
	return StateOff
}
