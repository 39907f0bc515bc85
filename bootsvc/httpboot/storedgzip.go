package httpboot

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"sync"
)

// storedGzip is a gzip member whose deflate stream is only stored
// (uncompressed) blocks, over n bytes of an io.ReaderAt: its length is
// known before a byte is read (for Content-Length and Range), costs no
// compression, and it is read from the source as it is sent. The CRC-32
// of the trailer is computed (one pass over the source) only when the
// trailer is read.
//
// Why gzip at all: Linux's initramfs unpacker takes an uncompressed cpio
// only at an offset that is a multiple of 4 in the concatenated initrds,
// and UEFI's EFI stub (initrd=NAME) concatenates them with no padding, so
// an uncompressed archive after a compressed one of odd length is refused
// ("invalid magic at start of compressed archive"); a compressed one is
// taken at any offset. (BIOS iPXE pads each initrd to 4 bytes.)
type storedGzip struct {
	src     io.ReaderAt
	n       int64
	crcDone bool
	trailer [8]byte // CRC-32 and ISIZE, little-endian, once crcDone
}

const (
	storedMax   = 65535 // bytes in one stored block
	storedHdr   = 5     // its header: BFINAL/BTYPE byte, LEN, NLEN
	gzipHdrSize = 10
)

// gzipHeader: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
var gzipHeader = [gzipHdrSize]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

func newStoredGzip(src io.ReaderAt, n int64) *storedGzip { return &storedGzip{src: src, n: n} }

// blocks is the number of stored blocks (at least one, even for no data).
func (g *storedGzip) blocks() int64 { return max(1, (g.n+storedMax-1)/storedMax) }

// size is the member's length in bytes.
func (g *storedGzip) size() int64 { return gzipHdrSize + g.blocks()*storedHdr + g.n + 8 }

// ReadAt implements io.ReaderAt.
func (g *storedGzip) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("stored gzip: negative offset")
	}
	trailerAt := g.size() - 8
	total := 0
	for len(p) > 0 {
		var n int
		var err error
		switch {
		case off < gzipHdrSize:
			n = copy(p, gzipHeader[off:])
		case off < trailerAt:
			rel := off - gzipHdrSize
			k, within := rel/(storedMax+storedHdr), rel%(storedMax+storedHdr)
			blockLen := min(storedMax, g.n-k*storedMax)
			if within < storedHdr {
				var h [storedHdr]byte
				if k == g.blocks()-1 {
					h[0] = 1 // BFINAL, BTYPE 00 (stored)
				}
				binary.LittleEndian.PutUint16(h[1:], uint16(blockLen))
				binary.LittleEndian.PutUint16(h[3:], ^uint16(blockLen))
				n = copy(p, h[within:])
			} else {
				d := within - storedHdr
				want := min(int64(len(p)), blockLen-d)
				n, err = g.src.ReadAt(p[:want], k*storedMax+d)
				if err == io.EOF && int64(n) == want {
					err = nil
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
			}
		case off < trailerAt+8:
			if !g.crcDone {
				if err := g.sumCRC(); err != nil {
					return total, err
				}
			}
			n = copy(p, g.trailer[off-trailerAt:])
		default:
			return total, io.EOF
		}
		total += n
		off += int64(n)
		p = p[n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// crcBufs holds sumCRC's read buffers: every node's runtime initrd is
// summed once per request, and a 32 KiB buffer each was garbage that made
// the heap (and the server's RSS) grow in a boot storm.
var crcBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// sumCRC reads the source once and fills the trailer.
func (g *storedGzip) sumCRC() error {
	bp := crcBufs.Get().(*[]byte)
	defer crcBufs.Put(bp)
	buf := *bp
	var crc uint32
	for off := int64(0); off < g.n; {
		want := min(int64(len(buf)), g.n-off)
		n, err := g.src.ReadAt(buf[:want], off)
		crc = crc32.Update(crc, crc32.IEEETable, buf[:n])
		off += int64(n)
		if int64(n) == want {
			continue
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	binary.LittleEndian.PutUint32(g.trailer[:4], crc)
	binary.LittleEndian.PutUint32(g.trailer[4:], uint32(g.n))
	g.crcDone = true
	return nil
}
