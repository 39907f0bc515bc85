package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Reference packings (-reference-packing).
const (
	// packingClassic: the reference serves what a node got before
	// gitboot's images issue (and what a Warewulf-style site serves): one
	// gzip initrd holding the image with its /boot (the kernel a second
	// time), then the overlays. The ratio measures packing and servers.
	packingClassic = "classic"
	// packingSame: the reference serves gitboot's own initrds,
	// concatenated. The ratio measures the servers alone.
	packingSame = "same"
)

// classicInitrd writes to out one gzip stream of gitboot's initrd parts
// (each decompressed: gzip members, zstd frames or plain cpio) in order,
// with a newc cpio of imageDir/boot right after the part named "image".
func classicInitrd(out io.Writer, parts []string, names []string, imageDir string) error {
	zw, err := gzip.NewWriterLevel(out, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	for i, part := range parts {
		if err := decompressInto(zw, part); err != nil {
			return fmt.Errorf("%s: %w", part, err)
		}
		if names[i] != "image" {
			continue
		}
		boot, err := bootCpio(imageDir)
		if err != nil {
			return err
		}
		if _, err := zw.Write(boot); err != nil {
			return err
		}
	}
	return zw.Close()
}

// decompressInto copies file's cpio, whatever its compression, to w.
func decompressInto(w io.Writer, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, zr)
		return err
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(w, zr)
		return err
	default:
		_, err = io.Copy(w, br)
		return err
	}
}

// bootCpio is a newc cpio of the image's boot/ directory (GNU cpio, run in
// imageDir), as the image initrd carried it before `exclude = ["boot/*"]`.
func bootCpio(imageDir string) ([]byte, error) {
	cmd := exec.Command("sh", "-c", "find boot | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0")
	cmd.Dir = imageDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("cpio of %s/boot: %w: %s", imageDir, err, stderr.String())
	}
	return out, nil
}
