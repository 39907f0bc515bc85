package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Load loads and validates a commit, picks the server block to serve and,
// when roots is not nil, checks the server paths it names against them
// (before any image source is read); any problem is a *ConfigError.
func Load(commit *gitsrc.Commit, vars map[string]string, server string, roots hclspec.PathChecker) (*hclspec.Cluster, *hclspec.Server, error) {
	return LoadContext(context.Background(), commit, vars, server, roots)
}

// LoadContext is Load, stopping early once ctx is done (then the error is
// ctx's, not a rejection of the commit).
func LoadContext(ctx context.Context, commit *gitsrc.Commit, vars map[string]string, server string, roots hclspec.PathChecker) (*hclspec.Cluster, *hclspec.Server, error) {
	return loadCached(ctx, commit, vars, server, roots, nil)
}

// loadCached is LoadContext with an evaluation cache (nil: none): node
// blocks unchanged since they were cached are not evaluated again (see
// hclspec.EvalCache).
func loadCached(ctx context.Context, commit *gitsrc.Commit, vars map[string]string, server string, roots hclspec.PathChecker, cache *hclspec.EvalCache) (*hclspec.Cluster, *hclspec.Server, error) {
	parser := hclparse.NewParser()
	cluster, diags := hclspec.LoadContext(ctx, commit.FS, hclspec.Options{Vars: vars, Parser: parser, Cache: cache})
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("evaluating commit %s: %w", commit.Short(), err)
	}
	if diags.HasErrors() {
		return nil, nil, &ConfigError{Commit: commit.Hash, Diags: diags, Files: parser.Files()}
	}
	srv, err := cluster.PickServer(server)
	if err != nil {
		return nil, nil, &ConfigError{Commit: commit.Hash, Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "No server to serve", Detail: err.Error(),
		}}}
	}
	if roots != nil {
		if diags := hclspec.CheckRoots(cluster, srv, roots); diags.HasErrors() {
			return nil, nil, &ConfigError{Commit: commit.Hash, Diags: diags, Files: parser.Files()}
		}
	}
	return cluster, srv, nil
}

// checkInventoryRoots refuses a recorded state that names a server path
// outside roots (applied before the roots were set, or narrowed since).
func checkInventoryRoots(inv *Inventory, roots hclspec.PathChecker) error {
	if roots == nil {
		return nil
	}
	dir := inv.Server.IPXEDir
	if dir == "" {
		dir = hclspec.DefaultIPXEDir
	}
	if err := roots.CheckIPXEDir(dir); err != nil {
		return fmt.Errorf("ipxe_dir %w", err)
	}
	for _, name := range sortedKeys(inv.Images) {
		if err := roots.CheckImageSource(inv.Images[name].Source); err != nil {
			return fmt.Errorf("image %s: source %w", name, err)
		}
	}
	return nil
}

// repoError turns an artifact error caused by the repository's content
// into a *ConfigError; others pass through.
func repoError(commit string, c *hclspec.Cluster, err error) error {
	var re *artifact.RepoError
	if errors.As(err, &re) {
		return &ConfigError{Commit: commit, Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "Cannot build the commit's artifacts", Detail: err.Error(),
			Subject: artifact.ErrorSubject(c, err),
		}}}
	}
	return err
}

func resultOf(err error) string {
	if IsConfigError(err) {
		return ResultRejected
	}
	return ResultError
}

// sameDesired reports whether a saved plan's desired state (a) is the
// desired state computed now (b). An image the plan could not examine
// (known after apply, e.g. planned in CI) matches whatever content it has
// now, as long as the rest of its block is the same.
func sameDesired(a, b *Inventory) bool {
	if a.Agent == "" {
		// Planned away from the server: the agent is the server's.
		cp := *a
		cp.Agent = b.Agent
		a = &cp
	}
	if len(a.Images) > 0 {
		cp := *a
		cp.Images = make(map[string]ImageState, len(a.Images))
		for name, is := range a.Images {
			if now, ok := b.Images[name]; ok && is.Unknown && is.Source == now.Source && is.Kernel == now.Kernel && is.Pin == now.Pin {
				is = now
			}
			cp.Images[name] = is
		}
		a = &cp
	}
	if unkeyed(a) {
		// Planned away from the server: asset keys were known as set only.
		cp := *a
		cp.Nodes = make(map[string]NodeState, len(a.Nodes))
		for name, n := range a.Nodes {
			if now, ok := b.Nodes[name]; ok && n.AssetKey == AssetKeyUnkeyed && now.AssetKey != "" {
				n.AssetKey = now.AssetKey
			}
			cp.Nodes[name] = n
		}
		a = &cp
	}
	return sameEncoding(a, b)
}

// unkeyed reports whether any node of inv has an unkeyed asset key.
func unkeyed(inv *Inventory) bool {
	for _, n := range inv.Nodes {
		if n.AssetKey == AssetKeyUnkeyed {
			return true
		}
	}
	return false
}

// sameEncoding reports whether a and b encode to the same bytes (Encode),
// comparing node by node rather than encoding each whole inventory.
func sameEncoding(a, b *Inventory) bool {
	if len(a.Nodes) != len(b.Nodes) || (a.Nodes == nil) != (b.Nodes == nil) {
		return false
	}
	ha, hb := *a, *b
	ha.Nodes, hb.Nodes = nil, nil
	ea, err1 := json.Marshal(&ha)
	eb, err2 := json.Marshal(&hb)
	if err1 != nil || err2 != nil || !bytes.Equal(ea, eb) {
		return false
	}
	for name, na := range a.Nodes {
		nb, ok := b.Nodes[name]
		if !ok {
			return false
		}
		// As inventory.json writes them (the same bytes as encoding/json's,
		// indented), without reflection.
		ea, eb = appendNodeJSON(ea[:0], &na), appendNodeJSON(eb[:0], &nb)
		if !bytes.Equal(ea, eb) {
			return false
		}
	}
	return true
}

func digestOf(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	return Digest(data)
}

func orNone(s string) string {
	if s == "" {
		return "nothing applied"
	}
	return s
}

// Short shortens a commit hash or an input key to the 12 digits plans and
// logs show.
func Short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
