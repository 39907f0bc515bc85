package artifact

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// checkPin compares an image's digest pin with the digest its source has
// (where names the source). A mismatch is a *RepoError at the image
// block: the source is what the operator put on the server or in the
// registry, and retrying does not change it; only a new commit does.
func checkPin(img *hclspec.Image, have, where string) error {
	if img.Digest == "" || img.Digest == have {
		return nil
	}
	return &RepoError{&locError{subject: img.Range.Ptr(),
		err: fmt.Errorf("digest mismatch: image %s pins %s, %s has %s", img.Name, img.Digest, where, have)}}
}

// readOCIImage reads an OCI layout's or a registry's image (pulled into
// the pull cache first) into a tree. It returns the tree and the image's
// digest.
func (b *Builder) readOCIImage(ctx context.Context, img *hclspec.Image, src *imageSource, sp *spool) (*tree, string, error) {
	var (
		im     v1.Image
		digest = src.oci
		err    error
	)
	if src.kind == "registry" {
		if im, err = b.pullImage(ctx, img, src.oci); err != nil {
			return nil, "", err
		}
	} else {
		plat, err := platformOf(img.Platform)
		if err != nil {
			return nil, "", &RepoError{err}
		}
		var h v1.Hash
		if im, h, err = layoutImage(img.Source, plat); err != nil {
			return nil, "", fmt.Errorf("OCI layout %s: %w", img.Source, err)
		}
		digest = h.String()
		if err := checkPin(img, digest, "the OCI layout"); err != nil {
			return nil, "", err
		}
	}
	pr := newProgress(b.cfg.Progress, "image "+img.Name+": reading layers", imageLayerBytes(im))
	t, err := flattenImage(im, sp, pr.add)
	if err != nil {
		return nil, "", fmt.Errorf("image %s: %w", shortDigest(digest), err)
	}
	pr.finish()
	return t, digest, nil
}

// excludeGlobs removes from t every entry whose path matches one of
// globs (path.Match, relative to the root), with everything under it. A
// directory a glob leaves in place stays (with "boot/*", /boot itself).
func excludeGlobs(t *tree, globs []string) {
	if len(globs) == 0 {
		return
	}
	var drop []string
	_ = t.walk(func(p string, _ *inode) error {
		for _, g := range globs {
			if ok, _ := path.Match(g, p); ok {
				drop = append(drop, p)
				break
			}
		}
		return nil
	})
	for i, p := range drop {
		if i > 0 && strings.HasPrefix(p, drop[i-1]+"/") {
			continue // under one already removed
		}
		t.remove(p)
	}
}
