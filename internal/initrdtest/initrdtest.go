// Package initrdtest reads initramfs files the way Linux does, for tests:
// an artifact may be several members, each a cpio archive compressed on
// its own (gitboot's system overlays are two), which `gzip -dc | cpio -i`
// does not see. A member is a gzip member, or one zstd frame (the kernel
// decodes one frame per member), or a cpio archive as it is. Used by the
// tests of reconcile/artifact and test/e2e; not part of gitboot.
package initrdtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// Magic numbers of the compressions gitboot writes.
var (
	MagicGzip = []byte{0x1f, 0x8b}
	MagicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Members returns the decompressed content of each member of the file at
// path, in order (gzip decompressed with the standard library, independent
// of the writer gitboot uses; zstd frames found by walking the frame
// format, so a member written as several frames shows as several).
func Members(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(data, MagicZstd):
		return zstdFrames(path, data)
	case !bytes.HasPrefix(data, MagicGzip):
		return [][]byte{data}, nil
	}
	br := bufio.NewReader(bytes.NewReader(data))
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

// zstdFrames splits data into its zstd frames (RFC 8878 section 3.1.1)
// and decompresses each.
func zstdFrames(path string, data []byte) ([][]byte, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(1<<27))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var out [][]byte
	for len(data) > 0 {
		n, err := frameLen(data)
		if err != nil {
			return nil, fmt.Errorf("%s: frame %d: %w", path, len(out), err)
		}
		b, err := dec.DecodeAll(data[:n], nil)
		if err != nil {
			return nil, fmt.Errorf("%s: frame %d: %w", path, len(out), err)
		}
		out = append(out, b)
		data = data[n:]
	}
	return out, nil
}

// frameLen returns the length of the zstd frame at the start of data.
func frameLen(data []byte) (int, error) {
	if !bytes.HasPrefix(data, MagicZstd) || len(data) < 6 {
		return 0, errors.New("not a zstd frame")
	}
	fhd := data[4]
	single := fhd&0x20 != 0
	n := 5
	if !single {
		n++ // window descriptor
	}
	n += []int{0, 1, 2, 4}[fhd&3] // dictionary id
	fcs := []int{0, 2, 4, 8}[fhd>>6]
	if fcs == 0 && single {
		fcs = 1
	}
	n += fcs
	for {
		if len(data) < n+3 {
			return 0, errors.New("truncated block header")
		}
		h := uint32(data[n]) | uint32(data[n+1])<<8 | uint32(data[n+2])<<16
		last, typ, size := h&1 != 0, (h>>1)&3, int(h>>3)
		n += 3
		switch typ {
		case 1: // RLE: one byte stands for size bytes
			n++
		case 3:
			return 0, errors.New("reserved block type")
		default:
			n += size
		}
		if n > len(data) {
			return 0, errors.New("truncated block")
		}
		if last {
			break
		}
	}
	if fhd&4 != 0 {
		n += 4 // content checksum
	}
	if n > len(data) {
		return 0, errors.New("truncated checksum")
	}
	return n, nil
}
