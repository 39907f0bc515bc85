package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/internal/statefile"
)

// SENT names of the artifacts, as status shows them. The kernel is sent
// under its file's base name in the image (e.g. "vmlinuz-6.1.0-13-amd64").
const (
	NameImage   = "image.img.gz"
	NameSystem  = "system.img.gz"
	NameRuntime = "runtime.img.gz"
)

// Config configures a Builder.
type Config struct {
	// StateDir is gitboot's state directory; artifacts live in
	// StateDir/artifacts.
	StateDir string
	// Logger receives one line per image built or reused and per build;
	// nil discards.
	Logger *slog.Logger
	// Progress receives image build progress: a bar when it is a
	// terminal, plain lines otherwise. nil: none.
	Progress io.Writer
	// Workers bounds parallel overlay builds; 0 means GOMAXPROCS.
	Workers int
	// Grace is how long GC keeps the artifacts of a manifest after it
	// stopped being current (besides the current and the previous one,
	// which are always kept). It must be at least the HTTP service's
	// grace period (bootsvc/httpboot Config.Grace), which keeps serving a
	// replaced snapshot's artifacts by digest for that long: artifact
	// does not import httpboot, so the default is a copy of
	// httpboot.DefaultGrace and the two must change together. Zero: 10
	// minutes; negative: none.
	Grace time.Duration
	// Now is the clock for Grace; nil: time.Now.
	Now func() time.Time
	// Agent is the gitboot-agent binary every system overlay gets as
	// /usr/lib/gitboot/gitboot-agent (mode 0755); its bytes are part of each system
	// overlay's input key, so a new agent rebuilds them all. "" means
	// DefaultAgent (gitboot-agent next to the running executable), except
	// in a test binary, where "" means no agent. A build fails when the
	// file is missing, naming it and `gitboot serve --agent`.
	Agent string
	// Trust is what every system overlay carries for the agent to trust
	// the server (see Trust); nil: nothing (a test, or a server without
	// TLS, whose agents then refuse to run).
	Trust *Trust
	// Secrets decrypts the repository's .age files (the server's age
	// identities); nil: a commit with a secret in an overlay fails to
	// build, naming the file.
	Secrets *agesecret.Keyring
	// CheckOnUse checks each artifact when a build first reuses it, as
	// New otherwise checks every artifact of the store (size against the
	// kept manifests, sha256 when written to since it was verified): for
	// a process that applies once and exits (gitboot apply), where the
	// whole store's check costs more than the build. Artifacts the build
	// does not reuse are not checked (a server checks them at its start);
	// VerifyBackground has nothing to do.
	CheckOnUse bool
}

// DefaultGrace is Config.Grace when it is zero; it equals
// httpboot.DefaultGrace.
const DefaultGrace = 10 * time.Minute

// Builder builds boot artifacts into the store under Config.StateDir. Its
// methods are safe for concurrent use; builds run one at a time.
type Builder struct {
	cfg   Config
	store *store

	mu         sync.Mutex
	images     map[string]imageRecord        // by input key
	overlays   map[string]ref                // by input key
	unverified []string                      // artifacts never verified, for VerifyBackground
	segments   map[segmentKey]*sharedSegment // the last build's shared system overlay segments
	layouts    map[string]*Layout            // image layouts read or made, by store hex
	// manifests are the manifests read since New, Load or GC, by hex
	// (content-addressed: they never change): New reads the applied ones
	// and the Load that restores the current one follows. Load and GC
	// forget them, so a running server keeps none.
	manifests map[string]*Manifest
	agentSum  agentSum // AgentDigest's, by the agent file's identity
}

// Result is one successful build: every served node's artifacts, and the
// manifest that records them (already stored; Commit makes it current).
type Result struct {
	Nodes  map[string]bootsvc.Artifacts // by node name
	Images map[string]ImageInfo         // by image name
	// Manifest is the manifest's digest ("sha256:<hex>"), ManifestPath
	// its file.
	Manifest     string
	ManifestPath string
	// Overlay artifacts built by this build and reused from earlier ones
	// (counted once per distinct overlay input).
	Built, Reused int
	// Duration is how long Build took.
	Duration time.Duration
}

// ImageInfo describes a built image.
type ImageInfo struct {
	// Digest is the image content's digest: the manifest digest of an OCI
	// layout, the digest a registry reference resolved to, the sha256 of a .tar/.tar.gz file, or the sha256 of the
	// uncompressed cpio archive built from a directory. An image's
	// `digest` pin is compared with it.
	Digest string
	Kind   string // "dir", "tar", "oci" or "registry"
	// Compression of the image and its overlays: zstd, gzip or none.
	Compression   string
	KernelName    string
	KernelVersion string
	Modules       bool // the image has lib/modules/<KernelVersion>
	Rebuilt       bool // false when the previous artifact was reused
}

// RepoError is a build error caused by the repository's content (an
// overlay, a template): only a new commit fixes it. Other errors (a missing
// image source, a full disk) may go away when retried. Check with
// errors.As.
type RepoError struct{ Err error }

func (e *RepoError) Error() string { return e.Err.Error() }
func (e *RepoError) Unwrap() error { return e.Err }

// New opens (creating if needed) the artifact store and removes
// temporaries a killed build left behind.
func New(cfg Config) (*Builder, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("build: no state directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = maxProcs()
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s, removed, err := openStore(filepath.Join(cfg.StateDir, "artifacts"))
	if err != nil {
		return nil, err
	}
	if removed > 0 {
		cfg.Logger.Info("removed leftover temporary files", "count", removed)
	}
	s.log = cfg.Logger
	b := &Builder{cfg: cfg, store: s, images: map[string]imageRecord{}, overlays: map[string]ref{}, layouts: map[string]*Layout{}}
	st, err := b.readApplied()
	if statefile.SetAside(cfg.Logger, err, "no build is kept as current or previous until the next apply") {
		st, err = b.readApplied()
	}
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{} // artifact sizes the kept manifests record
	var verifiedErr error
	var loadVerified func()
	if cfg.CheckOnUse {
		loadVerified = func() { verifiedErr = s.loadVerified() } // touches the store's verified list only
	}
	hexes := []string{st.Previous, st.Current}
	ms, errs := b.readManifests(hexes, loadVerified)
	for i, h := range hexes {
		if h == "" {
			continue
		}
		if errs[i] != nil {
			// Not fatal: the next build rebuilds what it cannot reuse.
			cfg.Logger.Warn("applied manifest unreadable", "err", errs[i])
			continue
		}
		b.remember(ms[i])
		ms[i].sizes(sizes)
	}
	if cfg.CheckOnUse {
		if err := verifiedErr; err != nil {
			cfg.Logger.Warn("artifact verification list", "err", err)
		}
		// The store's directory stays open for the builder's life (a
		// process that applies once): one fstatat per artifact checked.
		stat, closeDir := s.stamper()
		s.onUse = &onUse{checked: make(map[string]bool, len(s.have)), stat: stat, closeDir: closeDir, check: func(name string, st stamp) bool {
			ok, _ := b.checkFile(name, st, sizes)
			return ok
		}}
		return b, nil
	}
	b.unverified = b.checkAtStart(sizes)
	return b, nil
}

func maxProcs() int { return max(1, runtime.GOMAXPROCS(0)) }

// remember indexes a manifest's artifacts by input key for reuse.
func (b *Builder) remember(m *Manifest) {
	for _, rec := range m.Images {
		b.images[rec.Input] = rec
		if rec.Stage1 != nil {
			b.overlays[rec.Stage1Input] = *rec.Stage1
		}
	}
	for _, n := range m.Nodes {
		b.overlays[n.SystemInput] = n.System
		b.overlays[n.RuntimeInput] = n.Runtime
	}
}

// Build builds the artifacts of every node the named server serves (all
// nodes when server is "" and the cluster has at most one server block,
// or when the server lists no networks). An artifact whose input is
// unchanged is reused, not rebuilt. On error nothing that is served
// changes: the previous manifest and artifacts stay as they were.
func (b *Builder) Build(ctx context.Context, c *hclspec.Cluster, server string) (*Result, error) {
	return b.BuildWith(ctx, c, server, nil)
}

// BuildWith is Build given in, the input keys a plan computed
// (ComputeInputs) for the same cluster c, or nil: the build takes their
// template data instead of computing it again when they were computed for
// c itself and the server block it builds for (otherwise in is not used).
// The build sets the data's secret box: in is not used by anything else
// meanwhile.
func (b *Builder) BuildWith(ctx context.Context, c *hclspec.Cluster, server string, in *Inputs) (*Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	srv, err := buildServer(c, server)
	if err != nil {
		return nil, err
	}
	nodes := servedNodes(c, srv)

	m := &Manifest{Version: 1, Cluster: c.Hash, Images: map[string]imageRecord{}, Nodes: make(map[string]nodeRecord, len(nodes))}
	if srv != nil {
		m.Server = srv.Name
	}
	res := &Result{Nodes: make(map[string]bootsvc.Artifacts, len(nodes)), Images: map[string]ImageInfo{}}

	// Images, each once.
	var imageNames []string
	for _, n := range nodes {
		if n.Image == "" {
			return nil, fmt.Errorf("node %s: no image", n.Name)
		}
		if !slices.Contains(imageNames, n.Image) {
			imageNames = append(imageNames, n.Image)
		}
	}
	slices.Sort(imageNames)
	for _, name := range imageNames {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, rebuilt, err := b.image(ctx, c, name)
		if err == nil {
			img, _ := c.Image(name)
			rec, err = b.stageOne(ctx, img, rec)
		}
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		m.Images[name] = rec
		res.Images[name] = ImageInfo{Digest: rec.Digest, Kind: rec.Kind, KernelName: rec.KernelName,
			KernelVersion: rec.KernelVersion, Modules: rec.Modules, Rebuilt: rebuilt,
			Compression: compressionOf(rec.Compression)}
	}

	// Overlays.
	built, reused, err := b.buildOverlays(ctx, c, in.dataFor(c, srv), nodes, m)
	if err != nil {
		return nil, err
	}
	res.Built, res.Reused = built, reused

	hexSum, path, err := b.writeManifest(m)
	if err != nil {
		return nil, err
	}
	res.Manifest, res.ManifestPath = "sha256:"+hexSum, path
	b.fillNodes(res, m)
	res.Duration = time.Since(start)
	b.cfg.Logger.Info("build done", "nodes", len(nodes), "images", len(imageNames), "overlays_built", built,
		"overlays_reused", reused, "manifest", res.Manifest, "took", res.Duration.Round(time.Millisecond))
	return res, nil
}

// image returns the record of one image, building it unless an artifact
// for the same input exists.
func (b *Builder) image(ctx context.Context, c *hclspec.Cluster, name string) (imageRecord, bool, error) {
	img, ok := c.Image(name)
	if !ok {
		return imageRecord{}, false, errors.New("not declared")
	}
	src, err := examineImage(img)
	if err != nil {
		return imageRecord{}, false, err
	}
	if rec, ok := b.reusable(name, src.input); ok {
		b.cfg.Logger.Info("image unchanged", "image", name, "digest", rec.Digest)
		return rec, false, nil
	}
	t0 := time.Now()
	rec, err := b.buildImage(ctx, img, src)
	if err != nil {
		return imageRecord{}, false, err
	}
	b.images[rec.Input] = rec
	b.cfg.Logger.Info("image built", "image", name, "digest", rec.Digest, "kernel", rec.KernelName,
		"size", rec.Image.Size, "took", time.Since(t0).Round(time.Millisecond))
	return rec, true, nil
}

// reusable returns the record of an image built before from the same
// input, when its artifacts are still there. One recorded before image
// layouts were (or whose layout is lost) gets its layout from the image
// artifact.
func (b *Builder) reusable(name, input string) (imageRecord, bool) {
	rec, ok := b.images[input]
	if !ok || !b.store.usable(rec.Image.Hex+extImage) || !b.store.usable(rec.Kernel.Hex+extKernel) {
		return rec, false
	}
	if rec.Layout.Hex != "" && b.store.usable(rec.Layout.Hex+extLayout) {
		if lay, err := b.layout(rec.Layout); err == nil && lay.accountsKnown {
			return rec, true
		}
		// Recorded before layouts kept the account files: read again.
	}
	lay, err := b.layoutFromArtifact(rec.Image)
	if err == nil {
		rec.Layout, err = b.storeLayout(lay)
	}
	if err != nil {
		b.cfg.Logger.Warn("image layout not readable from its artifact; building the image again", "image", name, "err", err)
		return rec, false
	}
	b.images[input] = rec
	return rec, true
}

// buildServer picks the server a build is for: nil (every node, no server
// in the templates' data) when the repository declares none and none is
// named.
func buildServer(c *hclspec.Cluster, name string) (*hclspec.Server, error) {
	srv, err := c.PickServer(name)
	if errors.Is(err, hclspec.ErrNoServer) {
		return nil, nil
	}
	return srv, err
}

// servedNodes returns the nodes on the server's networks, in name order.
func servedNodes(c *hclspec.Cluster, srv *hclspec.Server) []*hclspec.Node {
	if srv == nil || len(srv.Networks) == 0 {
		return c.Nodes
	}
	var out []*hclspec.Node
	for _, n := range c.Nodes {
		if slices.Contains(srv.Networks, n.Network) {
			out = append(out, n)
		}
	}
	return out
}

// fillNodes turns manifest records into the artifacts bootsvc serves.
func (b *Builder) fillNodes(res *Result, m *Manifest) {
	type key struct{ hex, name string } // no string made per lookup
	seen := map[key]bootsvc.Artifact{}  // shared artifacts: one set of strings
	artifact := func(r ref, ext, name string) bootsvc.Artifact {
		if a, ok := seen[key{r.Hex, name}]; ok {
			return a
		}
		a := bootsvc.Artifact{Path: b.store.path(r.Hex + ext), Digest: "sha256:" + r.Hex, Size: r.Size, Name: name}
		seen[key{r.Hex, name}] = a
		return a
	}
	// An image's artifacts, once per image: most of the lookups.
	images := make(map[string]bootsvc.Artifacts, len(m.Images))
	for name, img := range m.Images {
		a := bootsvc.Artifacts{Kernel: artifact(img.Kernel, extKernel, img.KernelName), Image: artifact(img.Image, extImage, NameImage)}
		if img.Stage1 != nil {
			a.Stage1 = artifact(*img.Stage1, extImage, NameStage1)
		}
		images[name] = a
	}
	for name, n := range m.Nodes {
		a, ok := images[n.Image]
		if !ok { // a node whose image the manifest lacks: its zero record's artifacts, as ever
			img := m.Images[n.Image]
			a = bootsvc.Artifacts{Kernel: artifact(img.Kernel, extKernel, img.KernelName), Image: artifact(img.Image, extImage, NameImage)}
		}
		a.System = artifact(n.System, extImage, NameSystem)
		a.Runtime = artifact(n.Runtime, extImage, NameRuntime)
		res.Nodes[name] = a
	}
}
