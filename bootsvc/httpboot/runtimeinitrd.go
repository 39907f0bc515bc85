package httpboot

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/gitboot/gitboot/internal/overlaysig"
)

// RuntimeInitrdFile is the one file in /runtime-initrd/{mac}: the runtime
// overlay artifact as it is, at the root of the initramfs. gitboot's /init
// gives it to `gitboot-agent --once --from`, which lays the overlay over
// the image (keeping the image's own copies of the files it replaces) and
// removes it.
const RuntimeInitrdFile = ".gitboot-runtime.img.gz"

// runtimeInitrdMode is the file's cpio mode: a regular file, 0600 (the
// overlay may hold secrets).
const runtimeInitrdMode = 0o100600

// maxCPIOFile is the largest file a newc header can describe (its size
// field is 8 hex digits).
const maxCPIOFile = 1<<32 - 1

// wrappedInitrd is the cpio inside /runtime-initrd/{mac} (which sends it
// as a gzip member of stored blocks, see storedGzip): a newc archive that
// holds the runtime overlay artifact as one regular file,
// RuntimeInitrdFile, preceded by its signature as RuntimeInitrdFile+".sig"
// (overlaysig.FileSuffix; when the server signs), and nothing else (no directory entry: the kernel
// unpacks it over the image and touches none of the image's files). The
// artifact's bytes are read from the open file as they are sent, never
// copied into memory. It is an io.ReaderAt over head, file, tail.
type wrappedInitrd struct {
	head []byte      // the file's header and name, padded to 4 bytes
	file io.ReaderAt // the artifact, n bytes
	n    int64
	tail []byte // the file's padding, the TRAILER!!! entry, padded
}

// newWrappedInitrd wraps the n bytes of f, after a file holding sig
// unless it is "".
func newWrappedInitrd(f io.ReaderAt, n int64, sig string) *wrappedInitrd {
	w := &wrappedInitrd{file: f, n: n}
	w.head = make([]byte, 0, 136)
	if sig != "" {
		w.head = appendNewcHeader(w.head, RuntimeInitrdFile+overlaysig.FileSuffix, runtimeInitrdMode, 1, uint32(len(sig)))
		w.head = append(w.head, sig...)
		w.head = append(w.head, make([]byte, pad4(int64(len(sig))))...)
	}
	w.head = appendNewcHeader(w.head, RuntimeInitrdFile, runtimeInitrdMode, 1, uint32(n))
	w.tail = make([]byte, 0, 128)
	w.tail = append(w.tail, make([]byte, pad4(n))...)
	w.tail = appendNewcHeader(w.tail, "TRAILER!!!", 0, 1, 0)
	return w
}

// size is the archive's length in bytes.
func (w *wrappedInitrd) size() int64 { return int64(len(w.head)) + w.n + int64(len(w.tail)) }

// ReadAt implements io.ReaderAt (as io.SectionReader needs for
// http.ServeContent: Range and HEAD come from there).
func (w *wrappedInitrd) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("runtime initrd: negative offset")
	}
	total := 0
	for len(p) > 0 {
		var n int
		var err error
		switch h := int64(len(w.head)); {
		case off < h:
			n = copy(p, w.head[off:])
		case off < h+w.n:
			want := min(int64(len(p)), h+w.n-off)
			n, err = w.file.ReadAt(p[:want], off-h)
			if err == io.EOF && int64(n) == want {
				err = nil
			}
			if err == io.EOF {
				// The artifact shrank under us (replaced in place):
				// the body can no longer match its length.
				err = io.ErrUnexpectedEOF
			}
		case off < w.size():
			n = copy(p, w.tail[off-h-w.n:])
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

// appendNewcHeader appends a cpio newc header for name (uid, gid, mtime,
// devices 0), then the name, its NUL and the padding to 4 bytes.
func appendNewcHeader(dst []byte, name string, mode, nlink, size uint32) []byte {
	dst = append(dst, "070701"...)
	for _, v := range [...]uint32{
		1,     // ino
		mode,  // mode
		0,     // uid
		0,     // gid
		nlink, // nlink
		0,     // mtime
		size,  // filesize
		0, 0,  // devmajor, devminor
		0, 0, // rdevmajor, rdevminor
		uint32(len(name) + 1), // namesize, with the NUL
		0,                     // check
	} {
		dst = appendHex8(dst, v)
	}
	dst = append(dst, name...)
	dst = append(dst, 0)
	return append(dst, make([]byte, pad4(int64(110+len(name)+1)))...)
}

// appendHex8 appends v as 8 upper-case hex digits.
func appendHex8(dst []byte, v uint32) []byte {
	const digits = "0123456789ABCDEF"
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, digits[v>>uint(shift)&0xf])
	}
	return dst
}

// pad4 is how many bytes pad n to a multiple of 4.
func pad4(n int64) int64 { return (4 - n%4) % 4 }

// serveRuntimeInitrd sends the runtime overlay artifact f (size bytes)
// wrapped as RuntimeInitrdFile in a cpio archive (see wrappedInitrd), in a
// gzip member of stored blocks (see storedGzip: the kernel takes it at any
// offset, after any initrd, under BIOS and UEFI alike). The ETag is the
// artifact's digest marked as the wrapped form, so it never matches the
// plain artifact's.
func serveRuntimeInitrd(w http.ResponseWriter, r *http.Request, f *os.File, size int64, digest, sig string) {
	wr := newWrappedInitrd(f, size, sig)
	gz := newStoredGzip(wr, wr.size())
	hdr := w.Header()
	hdr["Content-Type"] = hdrOctet
	if digest != "" {
		hdr["Etag"] = []string{strconv.Quote(digest + "+initrd")}
	}
	serveContent(w, r, io.NewSectionReader(gz, 0, gz.size()), gz.size())
}
