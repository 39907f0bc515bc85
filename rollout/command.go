package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gitboot/gitboot/internal/clio"
)

// Command is `gitboot rollout`: a rollout asked of the server at Server
// (or with Watch its current one watched, with Cancel it stopped) and
// followed until it ends.
type Command struct {
	Options
	Server string
	Creds  string // --bmc-credentials: refused, the server holds them
	JSON   bool
	Watch  bool
	Cancel bool
	Poll   time.Duration // how often the progress is read
	Client *http.Client  // one that sends the admin token
}

// Run sends the request and follows the rollout; exit status 1 unless
// it completed.
func (c *Command) Run(ctx context.Context, out, errOut io.Writer) error {
	if c.Creds != "" {
		return errors.New("--bmc-credentials: the rollout runs on the server, which reads the credentials: " +
			"start gitboot serve with --bmc-credentials FILE (credentials never travel to the CLI)")
	}
	base := strings.TrimRight(c.Server, "/")
	p, err := c.call(ctx, base)
	if err != nil || p == nil {
		return err
	}
	if c.Cancel {
		fmt.Fprintf(out, "Rollout %s canceled.\n", p.ID)
		return nil
	}
	if p.State == StatePlanned {
		if c.JSON {
			return clio.WriteJSON(out, p)
		}
		WritePlan(out, p)
		return nil
	}
	if p.State == StateCompleted && len(p.Nodes) == 0 {
		if c.JSON {
			return clio.WriteJSON(out, p)
		}
		fmt.Fprintf(out, "No node needs a reboot to pick up commit %s.\n", shortCommit(p.Commit))
		return nil
	}
	p, err = c.follow(ctx, base, p, out, errOut)
	if err != nil {
		return err
	}
	if c.JSON {
		return clio.WriteJSON(out, p)
	}
	WriteReport(out, p)
	if p.State != StateCompleted {
		return clio.Exit{Code: 1}
	}
	return nil
}

// call sends the request of the flags: Cancel, Watch (the rollout
// running), else a new rollout.
func (c *Command) call(ctx context.Context, base string) (*Progress, error) {
	switch {
	case c.Cancel:
		return Call(ctx, c.Client, http.MethodDelete, base, nil)
	case c.Watch:
		p, err := Call(ctx, c.Client, http.MethodGet, base, nil)
		if err == nil && p.ID == "" {
			return nil, fmt.Errorf("%s has run no rollout", c.Server)
		}
		return p, err
	}
	req, err := c.Request()
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(req)
	return Call(ctx, c.Client, http.MethodPost, base, body)
}

// follow draws p's progress until it is finished (or replaced by
// another rollout) and returns how it ended.
func (c *Command) follow(ctx context.Context, base string, p *Progress, out, errOut io.Writer) (*Progress, error) {
	view := NewView(out, clio.IsTerminal(out) && !c.JSON, c.JSON)
	f := Follower{Client: c.Client, Base: base, Poll: c.Poll, Draw: view.Draw,
		Replaced: func(old, next *Progress) {
			fmt.Fprintf(errOut, "gitboot rollout: rollout %s was replaced by %s (commit %s)\n", old.ID, next.ID, shortCommit(next.Commit))
		}}
	end, err := f.Follow(ctx, p)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(errOut, "\ngitboot rollout: stopped watching; rollout %s goes on on the server (gitboot rollout --watch, --cancel)\n", p.ID)
		return nil, clio.Exit{Code: 1}
	}
	return end, err
}
