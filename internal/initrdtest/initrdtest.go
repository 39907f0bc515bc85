// Package initrdtest reads initramfs files the way Linux does, for tests:
// an artifact may be several gzip members, each a cpio archive (gitboot's
// system overlays are two), which `gzip -dc | cpio -i` does not see. Used
// by the tests of reconcile/artifact and test/e2e; not part of gitboot.
package initrdtest

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// Members returns the decompressed content of each gzip member of the file
// at path, in order (decompressed with the standard library, independent of
// the writer gitboot uses).
func Members(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out [][]byte
	for {
		zr.Multistream(false)
		data, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("%s: member %d: %w", path, len(out), err)
		}
		out = append(out, data)
		if err := zr.Reset(br); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: after member %d: %w", path, len(out), err)
		}
	}
}
