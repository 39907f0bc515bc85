package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"strings"
	"syscall"
	"time"
)

// overlaysName is the file of a runtime overlay that names each overlay's
// post_apply command and the files it installs (the server's
// artifact.PostApplyFile). The agent installs it like any other file.
const overlaysName = stateDir + "/overlays.json"

// Bounds of one post_apply command.
const (
	postApplyLines  = 10   // lines of output logged
	postApplyOutput = 4096 // bytes of output kept
)

// postApplyTimeout bounds one post_apply command (a variable for tests).
var postApplyTimeout = 5 * time.Minute

// overlayInfo is one runtime overlay in overlays.json, in overlay order.
type overlayInfo struct {
	Overlay   string   `json:"overlay"`
	PostApply string   `json:"post_apply,omitempty"`
	Files     []string `json:"files"`
}

func parseOverlays(data []byte) ([]overlayInfo, error) {
	var out []overlayInfo
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// overlaysOnDisk reads the overlays.json the previous overlay installed
// (nil when there is none or it is unreadable).
func (a *applier) overlaysOnDisk() []overlayInfo {
	data, err := os.ReadFile(path.Join(a.dir, overlaysName))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			a.log.Warn("reading the installed overlays.json failed", "err", err)
		}
		return nil
	}
	ovs, err := parseOverlays(data)
	if err != nil {
		a.log.Warn("installed overlays.json unreadable", "err", err)
	}
	return ovs
}

// overlaysIn returns the overlays.json of ents (nil when it has none).
func overlaysIn(ents []entry, log *slog.Logger) []overlayInfo {
	for i := range ents {
		if ents[i].shippedName() == overlaysName && !ents[i].isDir() && !ents[i].isLink() {
			ovs, err := parseOverlays(ents[i].data)
			if err != nil {
				log.Warn("the overlay's overlays.json is unreadable; no post_apply command runs", "err", err)
			}
			return ovs
		}
	}
	return nil
}

// touchedOverlays returns the names of the overlays owning the changed
// paths: in next (the overlay just applied) or, for a path it no longer
// has (removed), in prev (the one applied before).
func touchedOverlays(changed []string, prev, next []overlayInfo) []string {
	owner := map[string]string{}
	for _, ovs := range [][]overlayInfo{prev, next} {
		for _, o := range ovs {
			for _, f := range o.Files {
				owner[f] = o.Overlay
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range changed {
		if o, ok := owner[p]; ok && !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}

// runPostApply runs, in overlay order, the post_apply command of each
// overlay of ovs named in touched. A failure is logged and nothing more.
func (a *agent) runPostApply(ctx context.Context, ovs []overlayInfo, touched map[string]bool) {
	for _, o := range ovs {
		if !touched[o.Overlay] || o.PostApply == "" {
			continue
		}
		if a.cfg.noPostApply {
			a.log.Info("post_apply not run (--no-post-apply)", "overlay", o.Overlay, "command", o.PostApply)
			continue
		}
		a.postApply(ctx, o)
	}
}

func (a *agent) postApply(ctx context.Context, o overlayInfo) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postApplyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", o.PostApply)
	if a.cfg.root != "/" {
		cmd.Dir = a.cfg.root
		cmd.Env = append(os.Environ(), "GITBOOT_ROOT="+a.cfg.root)
	}
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The command and everything it starts form a process group of their
	// own; a timeout kills the whole group, not only /bin/sh (a
	// subshell's `sleep 1000 &` goes too).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // a background child keeping the output open
	start := time.Now()
	err := cmd.Run()
	attrs := []any{"overlay", o.Overlay, "command", o.PostApply, "took", time.Since(start).Round(time.Millisecond)}
	if lines := out.lines(postApplyLines); lines != "" {
		attrs = append(attrs, "output", lines)
	}
	switch {
	case err == nil:
		a.log.Info("post_apply ran", append(attrs, "exit", 0)...)
	case ctx.Err() != nil:
		a.log.Error("post_apply timed out and was killed", append(attrs, "timeout", postApplyTimeout)...)
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			attrs = append(attrs, "exit", ee.ExitCode())
		}
		a.log.Error("post_apply failed", append(attrs, "err", err)...)
	}
}

// limitedBuffer keeps the first postApplyOutput bytes written to it.
type limitedBuffer struct {
	buf       bytes.Buffer
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := postApplyOutput - b.buf.Len(); room < len(p) {
		b.truncated = true
		b.buf.Write(p[:max(room, 0)])
	} else {
		b.buf.Write(p)
	}
	return len(p), nil
}

// lines returns the first n lines of the output.
func (b *limitedBuffer) lines(n int) string {
	s := strings.TrimRight(b.buf.String(), "\n")
	parts := strings.SplitN(s, "\n", n+1)
	if len(parts) > n {
		parts, b.truncated = parts[:n], true
	}
	s = strings.Join(parts, "\n")
	if b.truncated {
		s += "\n…"
	}
	return s
}
