package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// padImage copies the image tar into dir with /var/gbpad/pad.bin of mb
// MiB of random bytes appended (incompressible: what compression cannot
// shrink), or with like, the image tar's own bytes repeated (compressible
// as the image is: what packing benchmarks compare), and returns the
// copy's path. The copy lives in its own
// directory, so serve's --image-root exposes nothing else.
func padImage(image, dir string, mb int, like bool) (string, error) {
	out := filepath.Join(dir, "padded", "image.tar")
	tree := filepath.Join(dir, "padtree")
	pad := filepath.Join(tree, "var", "gbpad", "pad.bin")
	if err := os.MkdirAll(filepath.Dir(pad), 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(pad)
	if err != nil {
		return "", err
	}
	var src io.Reader = rand.Reader
	if like {
		src = &repeatFile{path: image}
	}
	if _, err := io.CopyN(f, src, int64(mb)<<20); err != nil {
		f.Close()
		return "", fmt.Errorf("writing the padding: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	cp := exec.Command("sh", "-c", `cp "$1" "$2" && tar -rf "$2" -C "$3" ./var/gbpad/pad.bin && rm -r "$3"`, "pad", image, out, tree)
	if b, err := cp.CombinedOutput(); err != nil {
		return "", fmt.Errorf("padding the image: %v: %s", err, b)
	}
	return out, nil
}

// repeatFile reads a file's bytes over and over.
type repeatFile struct {
	path string
	f    *os.File
}

func (r *repeatFile) Read(p []byte) (int, error) {
	for {
		if r.f == nil {
			f, err := os.Open(r.path)
			if err != nil {
				return 0, err
			}
			r.f = f
		}
		n, err := r.f.Read(p)
		if n > 0 {
			return n, nil
		}
		if err != io.EOF {
			return 0, err
		}
		r.f.Close()
		r.f = nil
	}
}
