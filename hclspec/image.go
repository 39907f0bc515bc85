package hclspec

import (
	"path"
	"regexp"
	"strings"
)

// RegistryScheme prefixes an image source that names an image in an OCI
// registry: "oci://REGISTRY/REPOSITORY[:TAG][@sha256:<hex>]".
const RegistryScheme = "oci://"

// DefaultImageExclude is an image block's exclude when it sets none: the
// image's /boot (its kernel travels on its own; a distribution's own
// initrd.img is never needed) stays out of the image initrd.
var DefaultImageExclude = []string{"boot/*"}

// Image compressions (the image block's compression attribute).
const (
	CompressionZstd = "zstd"
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// IsRegistrySource reports whether an image source names a registry image.
func IsRegistrySource(src string) bool { return strings.HasPrefix(src, RegistryScheme) }

// ExcludeGlobs returns the globs left out of the image's initrd.
func (i *Image) ExcludeGlobs() []string {
	if i.Exclude == nil {
		return DefaultImageExclude
	}
	return i.Exclude
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)

// registryRefRE is REGISTRY/REPOSITORY[:TAG][@sha256:<hex>], loosely: the
// registry client checks the details.
var registryRefRE = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?/[a-z0-9._/\-]+(:[A-Za-z0-9_][A-Za-z0-9._\-]{0,127})?(@sha256:[0-9a-f]{64})?$`)

// decodeImagePacking decodes the attributes that say how an image is read
// and packed: platform, exclude, compression; and checks a registry
// source's reference.
func decodeImagePacking(a *attrs, img *Image) {
	if IsRegistrySource(img.Source) {
		at, _ := a.get("source")
		ref := strings.TrimPrefix(img.Source, RegistryScheme)
		if !registryRefRE.MatchString(ref) {
			a.valueErr(at, "Invalid registry image", "source must be oci://REGISTRY/REPOSITORY[:TAG][@sha256:<64 hex digits>], not %q.", img.Source)
		} else if _, d, ok := strings.Cut(ref, "@"); ok && img.Digest != "" && d != img.Digest {
			a.valueErr(at, "Two different digests", "source names %s but digest pins %s: keep one.", d, img.Digest)
		}
	}
	if v, at, ok := a.str("platform"); ok {
		if !platformRE.MatchString(v) {
			a.valueErr(at, "Invalid platform", "platform must be OS/ARCH[/VARIANT], as \"linux/arm64\", not %q.", v)
		} else if !IsRegistrySource(img.Source) {
			a.valueErr(at, "Platform of a local image", "platform picks an image of a registry's multi-platform index; source %q is not oci://.", img.Source)
		}
		img.Platform = v
	}
	if v, at, ok := a.strList("exclude"); ok {
		for _, g := range v {
			if _, err := path.Match(g, ""); err != nil || g == "" || strings.HasPrefix(g, "/") {
				a.valueErr(at, "Invalid exclude glob", "exclude takes globs relative to the image's root (as \"boot/*\"), not %q.", g)
			}
		}
		img.Exclude = v
	}
	if v, at, ok := a.str("compression"); ok {
		switch v {
		case CompressionZstd, CompressionGzip, CompressionNone:
		default:
			a.valueErr(at, "Invalid compression", "compression must be \"zstd\", \"gzip\" or \"none\", not %q.", v)
		}
		img.Compression = v
	}
}
