package httpboot

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// TestStoredGzipCRCAllocatesNothing: summing a runtime initrd's CRC (once
// per request, every node booting) reuses its read buffer; the member
// still unpacks to the source.
func TestStoredGzipCRCAllocatesNothing(t *testing.T) {
	src := bytes.Repeat([]byte("gitboot runtime overlay "), 5000) // 120 kB: several reads
	g := newStoredGzip(bytes.NewReader(src), int64(len(src)))
	if err := g.sumCRC(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		g.crcDone = false
		if err := g.sumCRC(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs >= 1 {
		t.Fatalf("sumCRC allocates %.1f times a call, want 0", allocs)
	}
	zr, err := gzip.NewReader(io.NewSectionReader(g, 0, g.size()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("unpacked %d bytes (%v), want the %d of the source", len(got), err, len(src))
	}
}
