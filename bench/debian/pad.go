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
// shrink), and returns the copy's path. The copy lives in its own
// directory, so serve's --image-root exposes nothing else.
func padImage(image, dir string, mb int) (string, error) {
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
	if _, err := io.CopyN(f, rand.Reader, int64(mb)<<20); err != nil {
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
