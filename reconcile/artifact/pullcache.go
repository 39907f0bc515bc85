package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// The pull cache is an OCI image layout (artifacts/oci in the state
// directory) holding every image pulled from a registry: blobs by digest,
// so a layer shared by several images, or an image several image blocks
// name, is downloaded once. Each pulled image is listed in its index.json
// with the digest its reference resolved to and the platform it was
// pulled for; GC drops the images no kept manifest uses, then their
// blobs.

const (
	annotDigest   = "org.gitboot.digest"
	annotPlatform = "org.gitboot.platform"
)

type pullCache struct{ p layout.Path }

// pullCache opens the pull cache, creating it when missing.
func (b *Builder) pullCache() (*pullCache, error) {
	dir := b.pullCacheDir()
	p, err := layout.FromPath(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("pull cache: %w", err)
		}
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return nil, fmt.Errorf("pull cache: %w", err)
		}
	}
	return &pullCache{p: p}, nil
}

// lookup returns the cached image that digest resolved to for plat.
func (c *pullCache) lookup(digest string, plat v1.Platform) (v1.Image, bool) {
	idx, err := c.p.ImageIndex()
	if err != nil {
		return nil, false
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, false
	}
	for _, d := range im.Manifests {
		if d.Annotations[annotDigest] == digest && d.Annotations[annotPlatform] == plat.String() {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, false
			}
			return img, true
		}
	}
	return nil, false
}

// add writes img (pulled as digest for plat) into the cache: the blobs it
// does not have yet, then its entry in index.json.
func (c *pullCache) add(digest string, plat v1.Platform, img v1.Image) error {
	return c.p.AppendImage(img, layout.WithAnnotations(map[string]string{annotDigest: digest, annotPlatform: plat.String()}))
}

// gc removes the cached images whose digest is not in keep, then every
// blob no remaining image uses. It returns the blobs removed.
func (b *Builder) gcPullCache(keep map[string]bool) (int, error) {
	if _, err := os.Stat(b.pullCacheDir()); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	c, err := b.pullCache()
	if err != nil {
		return 0, err
	}
	idx, err := c.p.ImageIndex()
	if err != nil {
		return 0, fmt.Errorf("pull cache: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return 0, fmt.Errorf("pull cache: %w", err)
	}
	kept := map[v1.Hash]bool{} // an image two digests resolved to stays while one is kept
	for _, d := range im.Manifests {
		if keep[d.Annotations[annotDigest]] {
			kept[d.Digest] = true
		}
	}
	var drop []v1.Hash
	for _, d := range im.Manifests {
		if !kept[d.Digest] {
			drop = append(drop, d.Digest)
		}
	}
	if len(drop) > 0 {
		if err := c.p.RemoveDescriptors(match.Digests(drop...)); err != nil {
			return 0, fmt.Errorf("pull cache: %w", err)
		}
	}
	unused, err := c.p.GarbageCollect()
	if err != nil {
		return 0, fmt.Errorf("pull cache: %w", err)
	}
	for _, h := range unused {
		if err := c.p.RemoveBlob(h); err != nil {
			return 0, fmt.Errorf("pull cache: %w", err)
		}
	}
	return len(unused), nil
}
