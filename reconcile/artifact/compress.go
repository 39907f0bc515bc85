package artifact

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Compression of image and overlay artifacts. Linux's initramfs unpacker
// picks a decompressor per member by its magic, so each member (the
// image, each overlay segment) may use its own; zstd needs the kernel's
// CONFIG_RD_ZSTD, gzip is in every kernel gitboot boots. A zstd member is
// one frame (the kernel decodes one frame per member) with a window of at
// most 8 MiB.

// zstdWindow bounds the zstd window: the kernel's decompressor allocates
// it while unpacking the initramfs.
const zstdWindow = 8 << 20

// imageZstdLevel is the zstd encoder level of image artifacts.
const imageZstdLevel = zstd.SpeedBetterCompression

// Magic numbers at the start of an artifact.
var (
	magicGzip = []byte{0x1f, 0x8b}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// compressionOf returns an artifact's compression: "" (gzip) for a record
// made before images had a compression.
func compressionOf(c string) string {
	if c == "" {
		return hclspec.CompressionGzip
	}
	return c
}

// pickCompression is the compression of an image's artifacts: the image
// block's, or zstd when the kernel's config (boot/config-VERSION in the
// image, read before exclude applies) has CONFIG_RD_ZSTD=y, else gzip.
func pickCompression(img *hclspec.Image, t *tree, kernelVersion string) string {
	if img.Compression != "" {
		return img.Compression
	}
	if kernelHasRDZstd(t, kernelVersion) {
		return hclspec.CompressionZstd
	}
	return hclspec.CompressionGzip
}

// kernelHasRDZstd reports whether boot/config-VERSION in t sets
// CONFIG_RD_ZSTD=y. A missing or unreadable config says no.
func kernelHasRDZstd(t *tree, version string) bool {
	n, ok := t.lookup("boot/config-" + version)
	if !ok || n.ino.mode&typeMask != typeReg || n.ino.data == nil || n.ino.size > 16<<20 {
		return false
	}
	rc, err := n.ino.data.open()
	if err != nil {
		return false
	}
	defer rc.Close()
	sc := bufio.NewScanner(io.LimitReader(rc, n.ino.size))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "CONFIG_RD_ZSTD=y" {
			return true
		}
	}
	return false
}

// newCompressor returns a writer that compresses into w with c, as one
// gzip member or one zstd frame. parallel is for image artifacts (gzip on
// every core; zstd's streaming encoder); overlays are compressed many at
// a time, one core each.
func newCompressor(w io.Writer, c string, parallel bool) (io.WriteCloser, error) {
	switch compressionOf(c) {
	case hclspec.CompressionGzip:
		if !parallel {
			return gzip.NewWriterLevel(w, gzip.DefaultCompression)
		}
		zw, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		if err := zw.SetConcurrency(1<<20, 2*maxProcs()); err != nil {
			return nil, err
		}
		return zw, nil
	case hclspec.CompressionZstd:
		opts := []zstd.EOption{zstd.WithWindowSize(zstdWindow), zstd.WithEncoderCRC(true), zstd.WithEncoderLevel(zstd.SpeedDefault)}
		if parallel {
			// The streaming encoder (one goroutine encodes while another
			// writes): measured on the Debian image it beats pgzip on every
			// core in time, CPU and memory; WithConcurrentBlocks took 3.6x
			// the time and 10x the memory here (bench/RESULTS.md).
			opts = append(opts, zstd.WithEncoderConcurrency(maxProcs()))
			// An image is packed once and unpacked by every boot, by the
			// kernel on one core before anything runs: its literals are
			// stored raw (no Huffman tables to decode) and the stronger
			// match search makes up the bytes. On the Debian 12 image this
			// is the same size as SpeedDefault's and 16% fewer instructions
			// to unpack, for twice the packing time (bench/RESULTS.md).
			opts = append(opts, zstd.WithEncoderLevel(imageZstdLevel), zstd.WithNoEntropyCompression(true))
		} else {
			opts = append(opts, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		}
		return zstd.NewWriter(w, opts...)
	case hclspec.CompressionNone:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// compressBytes compresses an overlay's cpio archive with c, one member.
func compressBytes(c string, write func(io.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	if compressionOf(c) == hclspec.CompressionGzip {
		zw := gzipPool.Get().(*gzip.Writer)
		defer gzipPool.Put(zw)
		zw.Reset(&buf)
		if err := write(zw); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	zw, err := newCompressor(&buf, c, false)
	if err != nil {
		return nil, err
	}
	if err := write(zw); err != nil {
		zw.Close()
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression); return w }}

// openArtifact returns a reader of an artifact's cpio bytes, whatever its
// compression (gzip members, zstd frames, or none); done releases it.
func openArtifact(r io.Reader) (io.Reader, func(), error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	switch {
	case bytes.HasPrefix(magic, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(magic, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}
