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

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/atomicfile"
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

// applied names the manifests of the current and the previous applied
// state (hex digests), in artifacts/applied.json.
type applied struct {
	Current  string `json:"current,omitempty"`
	Previous string `json:"previous,omitempty"`
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
		return a, fmt.Errorf("reading applied state: %w", err)
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
	if _, err := os.Stat(p); err == nil {
		return h, p, nil
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
		out = appendJSONString(out, name)
		out = append(out, `:{"image":`...)
		out = appendJSONString(out, n.Image)
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

func appendRef(b []byte, r ref) []byte {
	b = append(b, `{"sha256":"`...)
	b = append(b, r.Hex...)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, r.Size, 10)
	return append(b, '}')
}

// appendJSONString appends s quoted; plain ASCII is copied, anything else
// goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (b *Builder) readManifest(hexSum string) (*Manifest, error) {
	data, err := os.ReadFile(b.manifestPath(hexSum))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != hexSum {
		return nil, fmt.Errorf("manifest %s is corrupt", hexSum)
	}
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", hexSum, err)
	}
	return &m, nil
}

// Commit records r as the current applied state; the state it replaces
// becomes the previous one (kept for rollback).
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
	a.Previous, a.Current = a.Current, h
	data, _ := json.Marshal(a)
	if err := atomicfile.WriteFile(b.appliedPath(), data, 0o600); err != nil {
		return fmt.Errorf("recording applied state: %w", err)
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

// GC removes artifacts and manifests that neither the current nor the
// previous applied state references. It returns how many files it removed
// and their bytes.
func (b *Builder) GC() (removed int, bytesFreed int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.readApplied()
	if err != nil {
		return 0, 0, err
	}
	keepObj := map[string]bool{}
	keepMan := map[string]bool{}
	for _, h := range []string{a.Current, a.Previous} {
		if h == "" {
			continue
		}
		m, err := b.readManifest(h)
		if err != nil {
			return 0, 0, fmt.Errorf("gc: %w", err)
		}
		keepMan[h+".json"] = true
		for _, rec := range m.Images {
			keepObj[rec.Image.Hex+extImage] = true
			keepObj[rec.Kernel.Hex+extKernel] = true
		}
		for _, n := range m.Nodes {
			keepObj[n.System.Hex+extImage] = true
			keepObj[n.Runtime.Hex+extImage] = true
		}
	}
	for _, d := range []struct {
		dir  string
		keep map[string]bool
	}{{b.store.objs, keepObj}, {b.store.manifests, keepMan}} {
		ents, err := os.ReadDir(d.dir)
		if err != nil {
			return removed, bytesFreed, fmt.Errorf("gc: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			if d.keep[name] || strings.HasPrefix(name, tmpPrefix) {
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
				b.store.mu.Unlock()
			}
		}
	}
	for k, rec := range b.images {
		if !keepObj[rec.Image.Hex+extImage] {
			delete(b.images, k)
		}
	}
	for k, r := range b.overlays {
		if !keepObj[r.Hex+extImage] {
			delete(b.overlays, k)
		}
	}
	if removed > 0 {
		b.cfg.Logger.Info("gc removed unreferenced artifacts", "files", removed, "bytes", bytesFreed)
	}
	return removed, bytesFreed, nil
}
