package reconcile

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"path/filepath"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// PlanCommit plans a commit of src against a running inventory (nil when
// nothing was applied; runningData its encoding, for the plan's
// InventoryDigest), without building or changing anything. server names
// the server block ("" picks the running inventory's, or the only one).
// Image sources are examined where they can be read; the others are
// known after apply. roots, when not nil, checks the server paths the
// commit names (see Load). An invalid commit is a *ConfigError.
func PlanCommit(src Source, ref string, vars map[string]string, server string, roots hclspec.PathChecker, running *Inventory, runningData []byte) (*Plan, error) {
	return PlanCommitState("", src, ref, vars, server, roots, running, runningData)
}

// PlanCommitState is PlanCommit made on the server's state directory
// stateDir ("": none): it also checks the commit's overlays against the
// images built there (artifact.CheckImages), so an overlay path an image
// cannot take (a directory over one of its files or links) or an owner its
// /etc/passwd lacks is a *ConfigError naming the overlay, the path and the
// image, as the build would reject it. running must then be stateDir's
// running inventory: a node whose input keys and image content are its
// running ones built there, and is not checked again.
func PlanCommitState(stateDir string, src Source, ref string, vars map[string]string, server string, roots hclspec.PathChecker, running *Inventory, runningData []byte) (*Plan, error) {
	return PlanCommitSecrets(stateDir, nil, src, ref, vars, server, roots, running, runningData)
}

// PlanCommitSecrets is PlanCommitState that also decrypts the commit's
// secrets (see checkSecrets) with the age identities in ageIdentities, or
// else the state directory's (none there: not checked, the server's build
// will).
func PlanCommitSecrets(stateDir string, ageIdentities []string, src Source, ref string, vars map[string]string, server string, roots hclspec.PathChecker, running *Inventory, runningData []byte) (*Plan, error) {
	rr := &RunningRead{Inv: running, Digest: digestOf(runningData)}
	return PlanCommitRunning(stateDir, ageIdentities, src, ref, vars, server, roots, running, func() (*RunningRead, error) { return rr, nil })
}

// ErrRunningChanged is PlanCommitRunning's error when the running
// inventory read is not the one whose head the plan was made with.
var ErrRunningChanged = errors.New("the running inventory changed while the plan was made")

// PlanCommitRunning is PlanCommitSecrets with the running inventory read
// while the commit is evaluated (the second CPU's work): head is its head
// (ReadInventoryHead; nil when nothing runs), the server block it names
// taken when server is "", and running returns the whole inventory and
// the Digest of its encoding ("" when nothing runs; ReadInventoryDigest).
// When the inventory running returns has other variables or another
// server block name than head (it was applied meanwhile), the error is
// ErrRunningChanged: plan again.
func PlanCommitRunning(stateDir string, ageIdentities []string, src Source, ref string, vars map[string]string, server string, roots hclspec.PathChecker,
	head *Inventory, running func() (*RunningRead, error)) (*Plan, error) {
	commit, err := src.Resolve(ref)
	if err != nil {
		return nil, err
	}
	if server == "" && head != nil {
		server = head.Server.Name
	}
	var cache *hclspec.EvalCache
	if stateDir != "" {
		cache = hclspec.OpenEvalCache(filepath.Join(stateDir, EvalCacheFile))
	}
	cluster, srv, err := loadCached(context.Background(), commit, vars, server, roots, cache)
	if err != nil {
		return nil, err
	}
	desired, inputs, err := desireInputs(commit, cluster, srv, true)
	if err != nil {
		return nil, repoError(commit.Hash, cluster, err)
	}
	secret, err := AssetKeySecret(stateDir, false) // away from the server: none, keys stay unkeyed
	if err != nil {
		return nil, err
	}
	desired.keyAssetKeys(secret)
	if err := checkSecrets(stateDir, ageIdentities, commit.Hash, cluster, srv); err != nil {
		return nil, err
	}
	if cache != nil {
		cache.Save() // best effort: a cache that cannot be written costs time, nothing else
	}
	rr, err := running()
	if err != nil {
		return nil, err
	}
	var run *Inventory
	runningDigest := ""
	if rr != nil {
		run, runningDigest = rr.Inv, rr.Digest
	}
	if (head == nil) != (run == nil) || head != nil && (head.Server.Name != run.Server.Name || !maps.Equal(head.Vars, run.Vars)) {
		return nil, ErrRunningChanged
	}
	if stateDir != "" {
		name := ""
		if srv != nil {
			name = srv.Name
		}
		if diags := artifact.CheckImagesChanged(stateDir, cluster, name, inputs, builtAsRunning(run, desired)); diags.HasErrors() {
			return nil, &ConfigError{Commit: commit.Hash, Diags: diags, Files: diagFiles(commit.FS, diags)}
		}
	}
	p := Diff(run, desired, runningDigest)
	p.loaded = &loadedCommit{commit: commit.Hash, vars: maps.Clone(vars), cluster: cluster, srv: srv, cache: cache, inputs: inputs}
	p.running = rr
	return p, nil
}

// builtAsRunning reports the nodes whose overlays running, the state
// built on this server, built from the same input keys on the same image
// content as desired's: nothing of theirs needs checking again
// (artifact.CheckImagesChanged). nil when nothing runs.
func builtAsRunning(running, desired *Inventory) func(node string) bool {
	if running == nil {
		return nil
	}
	return func(node string) bool {
		r, ok := running.Nodes[node]
		d, ok2 := desired.Nodes[node]
		if !ok || !ok2 || r.SystemInput != d.SystemInput || r.RuntimeInput != d.RuntimeInput || r.Image != d.Image {
			return false
		}
		ri, ok := running.Images[r.Image]
		di, ok2 := desired.Images[d.Image]
		return ok && ok2 && !di.Unknown && di.Input != "" && di.Input == ri.Input
	}
}

// diagFiles parses the HCL files diags point at, so their snippets show
// the source.
func diagFiles(fsys fs.FS, diags hcl.Diagnostics) map[string]*hcl.File {
	parser := hclparse.NewParser()
	for _, d := range diags {
		if d.Subject == nil || d.Subject.Filename == "" {
			continue
		}
		if src, err := fs.ReadFile(fsys, d.Subject.Filename); err == nil {
			parser.ParseHCL(src, d.Subject.Filename)
		}
	}
	return parser.Files()
}
