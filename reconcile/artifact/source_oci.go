package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// OCI media types this reader understands (Docker's v2 equivalents too).
const (
	mediaOCIIndex      = "application/vnd.oci.image.index.v1+json"
	mediaOCIManifest   = "application/vnd.oci.image.manifest.v1+json"
	mediaDockerList    = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerManifst = "application/vnd.docker.distribution.manifest.v2+json"
	maxJSONBlob        = 4 << 20
)

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

type ociIndex struct {
	MediaType string          `json:"mediaType"`
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	MediaType string          `json:"mediaType"`
	Layers    []ociDescriptor `json:"layers"`
}

// isOCILayout reports whether dir is an OCI image layout.
func isOCILayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "oci-layout"))
	return err == nil
}

// ociBlobPath checks a digest and returns its blob's path. Only sha256 is
// accepted, and only in canonical form, so a digest never names a path
// outside blobs/.
func ociBlobPath(dir, digest string) (string, error) {
	hexPart, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexPart) != 64 {
		return "", fmt.Errorf("unsupported digest %q", digest)
	}
	if _, err := hex.DecodeString(hexPart); err != nil || strings.ToLower(hexPart) != hexPart {
		return "", fmt.Errorf("malformed digest %q", digest)
	}
	return filepath.Join(dir, "blobs", "sha256", hexPart), nil
}

// readBlobJSON reads a small JSON blob, checking its size and digest.
func readBlobJSON(dir string, d ociDescriptor, v any) error {
	p, err := ociBlobPath(dir, d.Digest)
	if err != nil {
		return err
	}
	if d.Size < 0 || d.Size > maxJSONBlob {
		return fmt.Errorf("blob %s: size %d out of range", d.Digest, d.Size)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading blob: %w", err)
	}
	if int64(len(b)) != d.Size {
		return fmt.Errorf("blob %s: %d bytes, descriptor says %d", d.Digest, len(b), d.Size)
	}
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(b)); got != d.Digest {
		return fmt.Errorf("blob %s: content has digest %s", d.Digest, got)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return nil
}

// ociResolve reads index.json and follows nested indexes to one image
// manifest, preferring linux on this machine's architecture when an index
// lists several. It returns the manifest's descriptor and the manifest.
func ociResolve(dir string) (ociDescriptor, *ociManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return ociDescriptor{}, nil, fmt.Errorf("reading index.json: %w", err)
	}
	if len(b) > maxJSONBlob {
		return ociDescriptor{}, nil, errors.New("index.json too large")
	}
	var idx ociIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return ociDescriptor{}, nil, fmt.Errorf("index.json: %w", err)
	}
	for depth := 0; depth < 4; depth++ {
		d, err := pickManifest(idx.Manifests)
		if err != nil {
			return ociDescriptor{}, nil, err
		}
		switch d.MediaType {
		case mediaOCIIndex, mediaDockerList:
			idx = ociIndex{}
			if err := readBlobJSON(dir, d, &idx); err != nil {
				return ociDescriptor{}, nil, err
			}
		case mediaOCIManifest, mediaDockerManifst, "":
			var m ociManifest
			if err := readBlobJSON(dir, d, &m); err != nil {
				return ociDescriptor{}, nil, err
			}
			return d, &m, nil
		default:
			return ociDescriptor{}, nil, fmt.Errorf("unsupported manifest media type %q", d.MediaType)
		}
	}
	return ociDescriptor{}, nil, errors.New("indexes nested too deep")
}

func pickManifest(ds []ociDescriptor) (ociDescriptor, error) {
	switch len(ds) {
	case 0:
		return ociDescriptor{}, errors.New("index lists no manifests")
	case 1:
		return ds[0], nil
	}
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	return ociDescriptor{}, fmt.Errorf("index lists %d manifests and none is linux/%s", len(ds), runtime.GOARCH)
}

// readOCI applies the layers of the layout's manifest in order into a new
// tree. It returns the tree and the manifest digest (the image's digest).
func readOCI(dir string, sp *spool, progress func(int64)) (*tree, string, error) {
	d, m, err := ociResolve(dir)
	if err != nil {
		return nil, "", err
	}
	t := newTree()
	for i, l := range m.Layers {
		if strings.Contains(l.MediaType, "zstd") {
			return nil, "", fmt.Errorf("layer %d: zstd layers are not supported", i)
		}
		entries, err := readLayer(dir, l, sp, progress)
		if err != nil {
			return nil, "", fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
		if err := applyLayer(t, entries); err != nil {
			return nil, "", fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
	}
	return t, d.Digest, nil
}

func readLayer(dir string, l ociDescriptor, sp *spool, progress func(int64)) ([]tarEntry, error) {
	p, err := ociBlobPath(dir, l.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading blob: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(f, h), progress: progress}
	entries, err := readTar(cr, sp)
	if err != nil {
		return nil, err
	}
	// The tar reader may stop before the end (padding); hash the rest.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, fmt.Errorf("reading blob: %w", err)
	}
	if err := checkDigest(h, cr.n, l); err != nil {
		return nil, err
	}
	return entries, nil
}

func checkDigest(h hash.Hash, n int64, d ociDescriptor) error {
	if d.Size > 0 && n != d.Size {
		return fmt.Errorf("blob has %d bytes, descriptor says %d", n, d.Size)
	}
	if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); got != d.Digest {
		return fmt.Errorf("blob content has digest %s", got)
	}
	return nil
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
