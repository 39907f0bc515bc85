// Package client is the CLI's side of gitboot serve: its HTTP API (the
// running inventory, node status, applying a saved plan, checking server
// paths; rollouts: rollout.Call; the post-receive poke: githook.Poke),
// and the commands that use it: plan and apply (against a running server
// or a state directory) and status. cmd/gitboot parses their flags.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/serve"
)

// Inventory reads the running inventory of the server at server (GET
// /inventory) and its encoding; nil when nothing was applied yet.
func Inventory(ctx context.Context, server string) (*reconcile.Inventory, []byte, error) {
	base := strings.TrimRight(server, "/")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/inventory", nil)
	if err != nil {
		return nil, nil, fmt.Errorf("--server %q: %w", server, err)
	}
	resp, err := Long.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the running inventory: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the running inventory from %s: %w", base, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		return nil, nil, nil // nothing applied yet
	default:
		return nil, nil, fmt.Errorf("reading the running inventory from %s: %s%s: %s", base, resp.Status, Hint(resp.StatusCode), strings.TrimSpace(string(body)))
	}
	inv, err := reconcile.DecodeInventory(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s/inventory: %w", base, err)
	}
	return inv, body, nil
}

// Status reads GET /status from the server at base.
func Status(ctx context.Context, base string) (*status.Report, error) {
	url := strings.TrimRight(base, "/") + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("status from %s: %w", base, err)
	}
	resp, err := HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("status from %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status from %s: %s%s", base, resp.Status, Hint(resp.StatusCode))
	}
	var rep status.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&rep); err != nil {
		return nil, fmt.Errorf("status from %s: decoding: %w", base, err)
	}
	return &rep, nil
}

// Roots checks paths with a running server (GET /check-path), where the
// files are: plan --server. Base is the server's URL without a trailing
// slash.
type Roots struct {
	Ctx  context.Context
	Base string
}

// CheckImageSource asks the server whether p may be an image source.
func (r Roots) CheckImageSource(p string) error { return r.check("image", "--image-root", p) }

// CheckIPXEDir asks the server whether p may be an ipxe_dir.
func (r Roots) CheckIPXEDir(p string) error { return r.check("ipxe_dir", "--ipxe-dir", p) }

func (r Roots) check(kind, flag, p string) error {
	ctx, cancel := context.WithTimeout(r.Ctx, 30*time.Second)
	defer cancel()
	u := r.Base + "/check-path?" + url.Values{kind: {p}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := Long.Do(req)
	if err != nil {
		return fmt.Errorf("%s cannot be checked by the server: %w", p, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s cannot be checked by the server: %w", p, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s cannot be checked by the server: GET /check-path: %s%s: %s", p, resp.Status, Hint(resp.StatusCode), strings.TrimSpace(string(body)))
	}
	var a httpboot.CheckPathAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("%s cannot be checked by the server: GET /check-path: %w", p, err)
	}
	if a.Path != p || a.Kind != kind {
		return errors.New("GET /check-path answered for another path")
	}
	if !a.Allowed {
		return &hclspec.OutsideError{Path: p, Resolved: p, Roots: a.Roots, Flag: flag}
	}
	return nil
}

// Apply asks a running server to apply p (POST /apply; with force, also
// a commit that is not on the server's tracked branch).
func Apply(ctx context.Context, server string, p *reconcile.Plan, force bool) (*serve.ApplyResult, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(server, "/")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	url := base + "/apply"
	if force {
		url += "?force=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", server, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := Long.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s to apply: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("asking %s to apply: %w", base, err)
	}
	var r serve.ApplyResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("asking %s to apply: %s%s: %s", base, resp.Status, Hint(resp.StatusCode), strings.TrimSpace(string(data)))
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s refused the plan: %s", base, r.Error)
	}
	return &r, nil
}
