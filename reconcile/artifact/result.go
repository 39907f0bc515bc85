package artifact

import (
	"fmt"
	"strings"

	"github.com/gitboot/gitboot/bootsvc"
)

// Load returns the build recorded by a manifest ("sha256:<hex>", as in
// Result.Manifest) as a Result, so a restarted server serves exactly what
// its inventory names, before any build. It fails when the manifest is
// missing or corrupt, or when an artifact it names is no longer stored.
func (b *Builder) Load(manifest string) (*Result, error) {
	h, ok := strings.CutPrefix(manifest, "sha256:")
	if !ok {
		return nil, fmt.Errorf("bad manifest digest %q", manifest)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	m, err := b.readManifest(h)
	b.forgetManifests()
	if err != nil {
		return nil, err
	}
	res := &Result{Nodes: make(map[string]bootsvc.Artifacts, len(m.Nodes)), Images: map[string]ImageInfo{},
		Manifest: manifest, ManifestPath: b.manifestPath(h)}
	for name, rec := range m.Images {
		files := []string{rec.Image.Hex + extImage, rec.Kernel.Hex + extKernel}
		if rec.Stage1 != nil {
			files = append(files, rec.Stage1.Hex+extImage)
		}
		for _, f := range files {
			if !b.store.has(f) {
				return nil, fmt.Errorf("manifest %s: image %s: artifact %s is missing", manifest, name, f)
			}
		}
		res.Images[name] = ImageInfo{Digest: rec.Digest, Kind: rec.Kind, KernelName: rec.KernelName, KernelVersion: rec.KernelVersion, Modules: rec.Modules}
	}
	for name, n := range m.Nodes {
		for _, r := range []ref{n.System, n.Runtime} {
			if !b.store.has(r.Hex + extImage) {
				return nil, fmt.Errorf("manifest %s: node %s: artifact %s is missing", manifest, name, r.Hex)
			}
		}
	}
	b.fillNodes(res, m)
	return res, nil
}
