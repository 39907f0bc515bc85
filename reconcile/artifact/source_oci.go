package artifact

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI images (an image layout on the server's disk, or an image pulled
// from a registry, see registry.go) are read with go-containerregistry
// and flattened with mutate.Extract, which applies whiteouts and opaque
// directories; every layer's bytes are checked against its digest.

// isOCILayout reports whether dir is an OCI image layout.
func isOCILayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "oci-layout"))
	return err == nil
}

// platformOf returns the platform an image is read for: the image
// block's, or linux on this machine's architecture.
func platformOf(p string) (v1.Platform, error) {
	if p == "" {
		return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, nil
	}
	pl, err := v1.ParsePlatform(p)
	if err != nil {
		return v1.Platform{}, err
	}
	return *pl, nil
}

// layoutImage resolves an OCI layout's index.json, following nested
// indexes, to one image: the only one listed, or the one for plat.
func layoutImage(dir string, plat v1.Platform) (v1.Image, v1.Hash, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	return pickImage(idx, plat, 0)
}

func pickImage(idx v1.ImageIndex, plat v1.Platform, depth int) (v1.Image, v1.Hash, error) {
	if depth > 4 {
		return nil, v1.Hash{}, errors.New("indexes nested too deep")
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("reading index: %w", err)
	}
	var d *v1.Descriptor
	switch len(im.Manifests) {
	case 0:
		return nil, v1.Hash{}, errors.New("index lists no manifests")
	case 1:
		d = &im.Manifests[0]
	default:
		for i := range im.Manifests {
			if p := im.Manifests[i].Platform; p != nil && p.Satisfies(plat) {
				d = &im.Manifests[i]
				break
			}
		}
		if d == nil {
			return nil, v1.Hash{}, fmt.Errorf("index lists %d manifests and none is %s", len(im.Manifests), plat.String())
		}
	}
	switch d.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, v1.Hash{}, err
		}
		return pickImage(child, plat, depth+1)
	case types.OCIManifestSchema1, types.DockerManifestSchema2, "":
		img, err := idx.Image(d.Digest)
		return img, d.Digest, err
	}
	return nil, v1.Hash{}, fmt.Errorf("unsupported manifest media type %q", d.MediaType)
}

// imageLayerBytes sums an image's (compressed) layer sizes for progress.
func imageLayerBytes(img v1.Image) int64 {
	m, err := img.Manifest()
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// flattenImage applies img's layers in order into a new tree (through
// mutate.Extract), checking each layer's digest; file data goes to sp.
func flattenImage(img v1.Image, sp *spool, progress func(int64)) (*tree, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading layers: %w", err)
	}
	checked := make([]v1.Layer, len(layers))
	for i, l := range layers {
		checked[i] = checkedLayer{Layer: l, progress: progress}
	}
	rc := mutate.Extract(layersOf{Image: img, layers: checked})
	defer rc.Close()
	entries, err := readTar(rc, sp)
	if err != nil {
		return nil, err
	}
	// Extract ends its tar stream before it reports a layer's error
	// (a digest that does not match): read on to the end to see it.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, err
	}
	t := newTree()
	if err := applyEntries(t, entries); err != nil {
		return nil, err
	}
	return t, nil
}

// layersOf is an image whose layers are the given ones.
type layersOf struct {
	v1.Image
	layers []v1.Layer
}

func (l layersOf) Layers() ([]v1.Layer, error) { return l.layers, nil }

// checkedLayer reads a layer's compressed bytes, checks their size and
// digest at the end (an error instead of io.EOF when they differ), and
// decompresses them (gzip, zstd or none, by their magic).
type checkedLayer struct {
	v1.Layer
	progress func(int64)
}

func (l checkedLayer) Uncompressed() (io.ReadCloser, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	vr := &verifyingReader{r: rc, h: sha256.New(), want: d, size: size, progress: l.progress}
	r, done, err := decompress(bufio.NewReaderSize(vr, 1<<20))
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("layer %s: %w", d, err)
	}
	return &readCloser{Reader: r, close: func() error { done(); return rc.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// verifyingReader hashes what it reads and, at the end, reports a size or
// digest other than the descriptor's as an error.
type verifyingReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	want     v1.Hash
	size     int64
	progress func(int64)
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.progress != nil && n > 0 {
		v.progress(int64(n))
	}
	if err == io.EOF {
		if v.size >= 0 && v.n != v.size {
			return n, fmt.Errorf("layer %s: blob has %d bytes, descriptor says %d", v.want, v.n, v.size)
		}
		if got := fmt.Sprintf("%x", v.h.Sum(nil)); v.want.Algorithm != "sha256" || got != v.want.Hex {
			return n, fmt.Errorf("layer %s: blob content has digest sha256:%s", v.want, got)
		}
	}
	return n, err
}

// countingReader counts bytes read and reports them to progress.
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(int64(n))
	}
	return n, err
}

// shortDigest is a digest cut for messages.
func shortDigest(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok && len(h) > 12 {
		return "sha256:" + h[:12]
	}
	return d
}

// readOCI reads the image of an OCI layout for platform plat ("" for this
// machine's) into a new tree. It returns the tree and the image's manifest
// digest.
func readOCI(dir, plat string, sp *spool, progress func(int64)) (*tree, string, error) {
	p, err := platformOf(plat)
	if err != nil {
		return nil, "", err
	}
	img, h, err := layoutImage(dir, p)
	if err != nil {
		return nil, "", err
	}
	t, err := flattenImage(img, sp, progress)
	if err != nil {
		return nil, "", err
	}
	return t, h.String(), nil
}
