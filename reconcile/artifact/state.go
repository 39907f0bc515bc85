package artifact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/jsonstr"
	"github.com/gitboot/gitboot/internal/statefile"
)

// Manifest records one build: each image's artifacts and each node's
// overlay artifacts, by digest, with the input keys that produced them. It
// is stored content-addressed as artifacts/manifests/<hex>.json.
type Manifest struct {
	Version int                    `json:"version"`
	Cluster string                 `json:"cluster"` // hclspec.Cluster.Hash
	Server  string                 `json:"server,omitempty"`
	Images  map[string]imageRecord `json:"images"`
	Nodes   map[string]nodeRecord  `json:"nodes"`
}

// nodeRecord is one node's artifact set (its kernel and image are its
// image's).
type nodeRecord struct {
	Image        string `json:"image"`
	System       ref    `json:"system"`
	SystemInput  string `json:"system_input"`
	Runtime      ref    `json:"runtime"`
	RuntimeInput string `json:"runtime_input"`
}

// appliedVersion is the format of applied.json written now. Version 1
// (written without a "version" field) has only current and previous; it is
// read as version 2 with nothing retired.
const appliedVersion = 2

// maxRetired bounds applied.json's list of replaced manifests. When more
// are replaced within the grace period, the oldest lose their grace early
// (the HTTP service keeps fewer still: httpboot.MaxRetired).
const maxRetired = 16

// applied names the manifests of the current and the previous applied
// state (hex digests), and those that stopped being current less than
// Config.Grace ago, in artifacts/applied.json.
type applied struct {
	Version  int    `json:"version,omitempty"`
	Current  string `json:"current,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Retired lists the manifests replaced as current, newest first, at
	// most maxRetired, each at most once, never Current. The previous
	// manifest is its first entry (unless the file was written by version
	// 1); GC keeps it whatever its age.
	Retired []retiredManifest `json:"retired,omitempty"`
}

// retiredManifest is a manifest that stopped being current at Replaced.
type retiredManifest struct {
	Manifest string    `json:"manifest"`
	Replaced time.Time `json:"replaced"`
}

// inGrace reports whether r stopped being current less than grace before
// now. A replacement time after now (the clock went back) counts as
// within.
func (r retiredManifest) inGrace(now time.Time, grace time.Duration) bool {
	return grace > 0 && now.Sub(r.Replaced) < grace
}

func (b *Builder) appliedPath() string { return filepath.Join(b.store.dir, "applied.json") }

func (b *Builder) manifestPath(hexSum string) string {
	return filepath.Join(b.store.manifests, hexSum+".json")
}

func (b *Builder) readApplied() (applied, error) {
	var a applied
	data, err := os.ReadFile(b.appliedPath())
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("reading applied state: %w", err)
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, statefile.Corrupt(b.appliedPath(), err)
	}
	if a.Version > appliedVersion {
		return a, fmt.Errorf("reading applied state: %s has version %d, written by a newer gitboot (this one reads up to %d)",
			b.appliedPath(), a.Version, appliedVersion)
	}
	return a, nil
}

func (b *Builder) writeManifest(m *Manifest) (string, string, error) {
	data, err := m.encode()
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	p := b.manifestPath(h)
	if old, err := os.ReadFile(p); err == nil {
		if bytes.Equal(old, data) {
			return h, p, nil
		}
		b.cfg.Logger.Error("MANIFEST DAMAGED: its content does not match its name; written again", "file", p)
	}
	if err := atomicfile.WriteFile(p, data, 0o600); err != nil {
		return "", "", fmt.Errorf("writing manifest: %w", err)
	}
	return h, p, nil
}

// encode writes m as JSON, the same as json.Marshal would but without
// reflection for the nodes, which are most of it (10,000 nodes: 3 MB).
func (m *Manifest) encode() ([]byte, error) {
	head, err := json.Marshal(struct {
		Version int                    `json:"version"`
		Cluster string                 `json:"cluster"`
		Server  string                 `json:"server,omitempty"`
		Images  map[string]imageRecord `json:"images"`
	}{m.Version, m.Cluster, m.Server, m.Images})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m.Nodes))
	for n := range m.Nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]byte, 0, len(head)+len(names)*400)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"nodes":{`...)
	for i, name := range names {
		n := m.Nodes[name]
		if i > 0 {
			out = append(out, ',')
		}
		out = jsonstr.Append(out, name)
		out = append(out, `:{"image":`...)
		out = jsonstr.Append(out, n.Image)
		out = append(out, `,"system":`...)
		out = appendRef(out, n.System)
		out = append(out, `,"system_input":"`...)
		out = append(out, n.SystemInput...)
		out = append(out, `","runtime":`...)
		out = appendRef(out, n.Runtime)
		out = append(out, `,"runtime_input":"`...)
		out = append(out, n.RuntimeInput...)
		out = append(out, `"}`...)
	}
	out = append(out, "}}"...)
	return out, nil
}

// sizes records the size of every artifact m names, by file name.
func (m *Manifest) sizes(into map[string]int64) {
	for _, rec := range m.Images {
		into[rec.Image.Hex+extImage] = rec.Image.Size
		into[rec.Kernel.Hex+extKernel] = rec.Kernel.Size
		if rec.Layout.Hex != "" {
			into[rec.Layout.Hex+extLayout] = rec.Layout.Size
		}
		if rec.Stage1 != nil {
			into[rec.Stage1.Hex+extImage] = rec.Stage1.Size
		}
	}
	for _, n := range m.Nodes {
		into[n.System.Hex+extImage] = n.System.Size
		into[n.Runtime.Hex+extImage] = n.Runtime.Size
	}
}

func appendRef(b []byte, r ref) []byte {
	b = append(b, `{"sha256":"`...)
	b = append(b, r.Hex...)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, r.Size, 10)
	return append(b, '}')
}

// forgetManifests drops the manifests readManifest kept (see
// Builder.manifests).
func (b *Builder) forgetManifests() { b.manifests = nil }

// manifestRefs returns the store files a manifest references, read from
// the manifest's text without decoding its node records (GC needs no more
// of them): every "sha256" digest in it, with each of the store's
// extensions, and its images' records. The text is checked against its
// name first, as readManifest does.
func (b *Builder) manifestRefs(hexSum string) (map[string]bool, map[string]imageRecord, error) {
	data, err := os.ReadFile(b.manifestPath(hexSum))
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest: %w", err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != hexSum {
		return nil, nil, fmt.Errorf("manifest %s is corrupt", hexSum)
	}
	images, err := decodeManifestImages(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest %s: %w", hexSum, err)
	}
	hexes := map[string]bool{}
	key := []byte(`"sha256"`)
	for rest := data; ; {
		i := bytes.Index(rest, key)
		if i < 0 {
			break
		}
		rest = rest[i+len(key):]
		v := bytes.TrimLeft(rest, " \t\r\n")
		if len(v) == 0 || v[0] != ':' {
			continue
		}
		v = bytes.TrimLeft(v[1:], " \t\r\n")
		if len(v) < 66 || v[0] != '"' || v[65] != '"' {
			continue
		}
		if !hexes[string(v[1:65])] { // a lookup, not a copy: an overlay most nodes share is named once per node
			hexes[string(v[1:65])] = true
		}
	}
	return hexes, images, nil
}

// Commit records r as the current applied state; the state it replaces
// becomes the previous one (kept for rollback), and is remembered with the
// time it was replaced, so that GC keeps its artifacts for Config.Grace.
func (b *Builder) Commit(r *Result) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := strings.CutPrefix(r.Manifest, "sha256:")
	if !ok {
		return fmt.Errorf("commit: bad manifest digest %q", r.Manifest)
	}
	if _, err := os.Stat(b.manifestPath(h)); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	a, err := b.readApplied()
	if err != nil {
		return err
	}
	if a.Current == h {
		return nil
	}
	now := b.cfg.Now()
	if a.Current != "" {
		a.Retired = slices.Insert(a.Retired, 0, retiredManifest{Manifest: a.Current, Replaced: now})
	}
	a.Previous, a.Current = a.Current, h
	a.Retired = b.pruneRetired(a.Retired, h, now)
	a.Version = appliedVersion
	data, _ := json.Marshal(a)
	if err := atomicfile.WriteFile(b.appliedPath(), data, 0o600); err != nil {
		return fmt.Errorf("recording applied state: %w", err)
	}
	if err := b.store.saveVerified(); err != nil {
		b.cfg.Logger.Warn("recording verified artifacts", "err", err)
	}
	return nil
}

// Current returns the current applied state as a Result (nil when nothing
// was ever committed), so a restarted server serves it before any build.
func (b *Builder) Current() (*Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.readApplied()
	if err != nil || a.Current == "" {
		return nil, err
	}
	m, err := b.readManifest(a.Current)
	b.forgetManifests()
	if err != nil {
		return nil, err
	}
	res := &Result{Nodes: map[string]bootsvc.Artifacts{}, Images: map[string]ImageInfo{},
		Manifest: "sha256:" + a.Current, ManifestPath: b.manifestPath(a.Current)}
	for name, rec := range m.Images {
		res.Images[name] = ImageInfo{Digest: rec.Digest, Kind: rec.Kind, KernelName: rec.KernelName, KernelVersion: rec.KernelVersion, Modules: rec.Modules}
	}
	b.fillNodes(res, m)
	return res, nil
}

// pruneRetired returns l (newest first) without the entries past their
// grace, a second entry for one manifest, and current, cut to maxRetired.
func (b *Builder) pruneRetired(l []retiredManifest, current string, now time.Time) []retiredManifest {
	seen := map[string]bool{current: true}
	out := l[:0]
	for _, r := range l {
		if seen[r.Manifest] || !r.inGrace(now, b.cfg.Grace) {
			continue
		}
		seen[r.Manifest] = true
		if len(out) == maxRetired {
			b.cfg.Logger.Warn("too many applies within the grace period; the oldest replaced build's artifacts may be removed early",
				"manifest", "sha256:"+r.Manifest, "replaced", r.Replaced, "max", maxRetired)
			break
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// keptManifests returns the manifests GC keeps: the current one, the
// previous one, and those replaced less than Config.Grace ago.
func (b *Builder) keptManifests(a applied) []string {
	now := b.cfg.Now()
	var keep []string
	for _, h := range []string{a.Current, a.Previous} {
		if h != "" {
			keep = append(keep, h)
		}
	}
	for _, r := range a.Retired {
		if r.inGrace(now, b.cfg.Grace) && !slices.Contains(keep, r.Manifest) {
			keep = append(keep, r.Manifest)
		}
	}
	return keep
}

// GC removes artifacts and manifests that no kept applied state
// references: kept are the current one, the previous one, and every one
// that stopped being current less than Config.Grace ago (the HTTP service
// still serves their artifacts by digest to nodes that started booting
// from them). It returns how many files it removed and their bytes.
func (b *Builder) GC() (removed int, bytesFreed int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.readApplied()
	if err != nil {
		return 0, 0, err
	}
	b.forgetManifests()
	// A kept manifest keeps every store file whose digest it names (with
	// any extension: its records are not decoded, see manifestRefs).
	var keepHex map[string]bool
	keepMan := map[string]bool{}
	keepPulled := map[string]bool{} // registry digests whose pulled image stays cached
	for _, h := range b.keptManifests(a) {
		hexes, images, err := b.manifestRefs(h)
		if err != nil {
			return 0, 0, fmt.Errorf("gc: %w", err)
		}
		keepMan[h+".json"] = true
		if keepHex == nil {
			keepHex = hexes // the first manifest's set: the others add to it
		} else {
			for x := range hexes {
				keepHex[x] = true
			}
		}
		for _, rec := range images {
			if rec.Kind == "registry" {
				keepPulled[rec.Digest] = true
			}
		}
	}
	keepObj := keptHexes(keepHex)
	for _, d := range []struct {
		dir  string
		keep keptFiles
	}{{b.store.objs, keepObj}, {b.store.manifests, keptNames(keepMan)}} {
		ents, err := os.ReadDir(d.dir)
		if err != nil {
			return removed, bytesFreed, fmt.Errorf("gc: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			if d.keep(name) || strings.HasPrefix(name, tmpPrefix) {
				continue
			}
			info, err := e.Info()
			if err == nil {
				bytesFreed += info.Size()
			}
			if err := os.Remove(filepath.Join(d.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, bytesFreed, fmt.Errorf("gc: %w", err)
			}
			removed++
			if d.dir == b.store.objs {
				b.store.mu.Lock()
				delete(b.store.have, name)
				delete(b.store.verified, name)
				b.store.mu.Unlock()
			}
		}
	}
	b.forgetRemoved(keepHex)
	pulled, err := b.gcPullCache(keepPulled)
	if err != nil {
		return removed, bytesFreed, fmt.Errorf("gc: %w", err)
	}
	removed += pulled
	if removed > 0 {
		b.cfg.Logger.Info("gc removed unreferenced artifacts", "files", removed, "bytes", bytesFreed)
	}
	return removed, bytesFreed, nil
}

// forgetRemoved drops from the Builder's in-memory records the images,
// overlays and layouts whose artifacts GC removed (those not in keepHex).
func (b *Builder) forgetRemoved(keepHex map[string]bool) {
	for k, rec := range b.images {
		if !keepHex[rec.Image.Hex] {
			delete(b.images, k)
		}
	}
	for k, r := range b.overlays {
		if !keepHex[r.Hex] {
			delete(b.overlays, k)
		}
	}
	for h := range b.layouts {
		if !keepHex[h] {
			delete(b.layouts, h)
		}
	}
}

// keptFiles reports whether GC keeps a store file (by name).
type keptFiles func(name string) bool

// keptHexes keeps the files "<hex>.<ext>" whose hex is in hexes.
func keptHexes(hexes map[string]bool) keptFiles {
	return func(name string) bool {
		h, _, _ := strings.Cut(name, ".")
		return hexes[h]
	}
}

// keptNames keeps the files named in names.
func keptNames(names map[string]bool) keptFiles {
	return func(name string) bool { return names[name] }
}
