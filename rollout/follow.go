package rollout

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gitboot/gitboot/power"
)

// Options are a rollout as the CLI asks for it, before they are checked.
type Options struct {
	Batch       string // N or a percentage; "" the server's default
	MaxFailures int    // -1: the server's default
	Wait        string
	Timeout     time.Duration // 0: the server's default
	DryRun      bool
	Only        []string // node names, globs
	Tags        []string // KEY=VALUE
}

// Request checks o and makes the request the server's /rollout takes;
// the errors name the CLI's flags.
func (o Options) Request() (Request, error) {
	req := Request{Batch: o.Batch, Wait: o.Wait, DryRun: o.DryRun, Only: o.Only}
	if o.Batch != "" {
		if _, err := ParseBatch(o.Batch); err != nil {
			return req, fmt.Errorf("--batch: %w", err)
		}
	}
	if o.MaxFailures >= 0 {
		n := o.MaxFailures
		req.MaxFailures = &n
	} else if o.MaxFailures != -1 {
		return req, fmt.Errorf("--max-failures %d: must be 0 or more", o.MaxFailures)
	}
	if o.Timeout < 0 {
		return req, fmt.Errorf("--timeout %v: must be positive", o.Timeout)
	}
	if o.Timeout > 0 {
		req.Timeout = o.Timeout.String()
	}
	tags, err := power.ParseTags(o.Tags)
	req.Tags = tags
	return req, err
}

// Follower reads a running rollout's progress from a server until it is
// finished.
type Follower struct {
	Client *http.Client
	Base   string // the server's URL
	Poll   time.Duration
	Draw   func(*Progress) // called with each progress read
	// Replaced is called when another rollout (a newer commit's) replaced
	// the one followed, which then ends superseded.
	Replaced func(old, next *Progress)
}

// Follow draws p, then reads and draws its progress every f.Poll until it
// is finished, and returns how it ended. Up to 20 failed reads in a row
// are retried. It returns ctx's error when ctx ends first: the rollout
// goes on on the server.
func (f Follower) Follow(ctx context.Context, p *Progress) (*Progress, error) {
	f.Draw(p)
	t := time.NewTicker(f.Poll)
	defer t.Stop()
	failures := 0
	for !p.Finished() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		next, err := Call(ctx, f.Client, http.MethodGet, f.Base, nil)
		if err != nil {
			if failures++; failures > 20 {
				return nil, err
			}
			continue
		}
		failures = 0
		if next.ID != p.ID {
			f.Replaced(p, next)
			p.State = StateSuperseded
			break
		}
		p = next
		f.Draw(p)
	}
	return p, nil
}
